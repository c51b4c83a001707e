package engine

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// listQuery is a filtered, paginated listing of one table: the filters
// become one WHERE clause shared by the count and the page.
type listQuery struct {
	table string
	where []string
	args  []any
}

// eq filters column = v, unless v is empty (no filter).
func (q *listQuery) eq(column, v string) *listQuery {
	if v != "" {
		q.args = append(q.args, v)
		q.where = append(q.where, fmt.Sprintf("%s = $%d", column, len(q.args)))
	}
	return q
}

// when adds a condition without arguments when on is true.
func (q *listQuery) when(on bool, cond string) *listQuery {
	if on {
		q.where = append(q.where, cond)
	}
	return q
}

func (q *listQuery) cond() string {
	if len(q.where) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(q.where, " AND ")
}

// page returns the total count of matching rows and runs scan over the
// page of them (columns, in order) selected by limit and offset.
func (q *listQuery) page(ctx context.Context, db querier, columns, order string, limit, offset int, scan func(*sql.Rows) error) (int, error) {
	var total int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+q.table+q.cond(), q.args...).Scan(&total); err != nil {
		return 0, fmt.Errorf("count %s: %w", q.table, err)
	}
	limit, offset = pageOf(limit, offset)
	args := append(q.args[:len(q.args):len(q.args)], limit, offset)
	rows, err := db.QueryContext(ctx, fmt.Sprintf(`SELECT %s FROM %s%s ORDER BY %s LIMIT $%d OFFSET $%d`,
		columns, q.table, q.cond(), order, len(args)-1, len(args)), args...)
	if err != nil {
		return 0, fmt.Errorf("list %s: %w", q.table, err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return 0, fmt.Errorf("scan %s: %w", q.table, err)
		}
	}
	return total, rows.Err()
}

// pageOf clamps a page request: default 50, at most 500.
func pageOf(limit, offset int) (int, int) {
	if limit <= 0 {
		limit = 50
	}
	return min(limit, 500), max(offset, 0)
}
