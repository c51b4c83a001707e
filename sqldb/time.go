package sqldb

import (
	"database/sql/driver"
	"fmt"
	"time"
)

// timeLayout is fixed-width UTC with microseconds, so that text order is
// time order on both SQLite and PostgreSQL.
const timeLayout = "2006-01-02T15:04:05.000000Z"

// Time returns the stored form of t; the zero time is stored as NULL.
func Time(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(timeLayout)
}

// TimeDest scans a stored time into *T; NULL leaves the zero time.
type TimeDest struct{ T *time.Time }

// Scan implements sql.Scanner.
func (d TimeDest) Scan(v any) error {
	switch s := v.(type) {
	case nil:
		*d.T = time.Time{}
		return nil
	case string:
		return d.parse(s)
	case []byte:
		return d.parse(string(s))
	case time.Time:
		*d.T = s.UTC()
		return nil
	}
	return fmt.Errorf("sqldb: cannot scan %T into a time", v)
}

func (d TimeDest) parse(s string) error {
	t, err := time.Parse(timeLayout, s)
	if err != nil {
		t, err = time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return fmt.Errorf("sqldb: bad stored time %q: %w", s, err)
		}
	}
	*d.T = t.UTC()
	return nil
}

// TimeValue is a time.Time that implements driver.Valuer in stored form.
type TimeValue time.Time

// Value implements driver.Valuer.
func (t TimeValue) Value() (driver.Value, error) { return Time(time.Time(t)), nil }
