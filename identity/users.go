package identity

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/thecombine/combine"
	"github.com/thecombine/combine/sqldb"
)

const userColumns = `u.id, u.email, u.name, u.provider, u.issuer, u.provider_id, u.roles, u.disabled, u.created_at, u.last_login_at`

type scanner interface{ Scan(dest ...any) error }

func scanUser(row scanner, extra ...any) (*combine.User, error) {
	u := &combine.User{}
	var roles string
	dest := append([]any{&u.ID, &u.Email, &u.Name, &u.Provider, &u.Issuer, &u.ProviderID, &roles, &u.Disabled,
		sqldb.TimeDest{T: &u.CreatedAt}, sqldb.TimeDest{T: &u.LastLoginAt}}, extra...)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(roles), &u.Roles); err != nil {
		return nil, fmt.Errorf("roles of user %s: %w", u.ID, err)
	}
	if u.Roles == nil {
		u.Roles = []string{}
	}
	return u, nil
}

// findUser returns the one user matching where, or ENOTFOUND.
func findUser(ctx context.Context, q queryer, where string, args ...any) (*combine.User, error) {
	u, err := scanUser(q.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users u WHERE `+where, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, combine.Errorf(combine.ENOTFOUND, "user not found")
	} else if err != nil {
		return nil, fmt.Errorf("find user: %w", err)
	}
	return u, nil
}

// normalizeRoles validates, lower-cases, de-duplicates and sorts roles.
func normalizeRoles(roles []string) ([]string, error) {
	out := []string{}
	for _, r := range roles {
		r = strings.ToLower(strings.TrimSpace(r))
		if r == "" {
			continue
		}
		if !combine.IsValidRole(r) {
			return nil, combine.Errorf(combine.EINVALID, "unknown role %q: valid roles are viewer, operator, admin and the reviewer roles %s",
				r, strings.Join(combine.ReviewerRoles, ", "))
		}
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	slices.Sort(out)
	return out, nil
}

func rolesJSON(roles []string) string {
	if roles == nil {
		roles = []string{}
	}
	b, _ := json.Marshal(roles)
	return string(b)
}

// Limits of user fields, in characters.
const (
	MaxEmail    = 254
	MaxUserName = 200
)

// validateEmail normalizes an address and refuses what cannot be one:
// no local part or domain, whitespace, control characters, characters
// that break mail headers, text a database cannot store, or more than
// MaxEmail characters.
func validateEmail(email string) (string, error) {
	e := normEmail(email)
	if !combine.ValidText(e) || combine.HasControl(e) || strings.ContainsFunc(e, unicode.IsSpace) {
		return "", combine.Errorf(combine.EINVALID, "%q is not a valid email address", safeText(email, 80))
	}
	at := strings.LastIndexByte(e, '@')
	if at <= 0 || at == len(e)-1 || !strings.Contains(e[at+1:], ".") || strings.ContainsAny(e, "<>,;\"") || combine.TextLen(e) > MaxEmail {
		return "", combine.Errorf(combine.EINVALID, "%q is not a valid email address", safeText(email, 80))
	}
	return e, nil
}

// validateName checks a person's name: storable text without control
// characters, at most MaxUserName characters.
func validateName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if err := combine.CheckText("name", name, MaxUserName); err != nil {
		return "", err
	}
	if combine.HasControl(name) {
		return "", combine.Errorf(combine.EINVALID, "name must not contain control characters")
	}
	return name, nil
}

// safeText makes untrusted text fit for a message, a log line or an
// audit field: valid UTF-8, control characters (NUL included) replaced,
// at most n characters.
func safeText(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return '\uFFFD'
		}
		return r
	}, s)
	return combine.TruncateText(s, n)
}

// FindUserByID returns a user or ENOTFOUND.
func (s *Service) FindUserByID(ctx context.Context, id string) (*combine.User, error) {
	return findUser(ctx, s.db.R, "u.id = $1", id)
}

// FindUsers lists users by creation time.
func (s *Service) FindUsers(ctx context.Context, f combine.UserFilter) ([]*combine.User, error) {
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 1000
	}
	q := `SELECT ` + userColumns + ` FROM users u`
	var args []any
	if f.Email != "" {
		q += ` WHERE u.email = $1`
		args = append(args, normEmail(f.Email))
	}
	q += fmt.Sprintf(` ORDER BY u.created_at, u.id LIMIT %d OFFSET %d`, f.Limit, max(f.Offset, 0))
	return queryAll(ctx, s.db.R, "users", func(r scanner) (*combine.User, error) { return scanUser(r) }, q, args...)
}

func (s *Service) validateCreate(in combine.UserCreate) (combine.UserCreate, error) {
	email, err := validateEmail(in.Email)
	if err != nil {
		return in, err
	}
	roles, err := normalizeRoles(in.Roles)
	if err != nil {
		return in, err
	}
	if len(roles) == 0 {
		return in, combine.Errorf(combine.EINVALID, "at least one role is required")
	}
	name, err := validateName(in.Name)
	if err != nil {
		return in, err
	}
	in.Email, in.Roles, in.Name = email, roles, name
	return in, nil
}

// CreateUser provisions a local user; ECONFLICT when the email is taken.
func (s *Service) CreateUser(ctx context.Context, in combine.UserCreate) (*combine.User, error) {
	in, err := s.validateCreate(in)
	if err != nil {
		return nil, err
	}
	var u *combine.User
	err = s.db.WithTx(ctx, func(tx *sql.Tx) error {
		if _, err := findUser(ctx, tx, "u.email = $1", in.Email); err == nil {
			return combine.Errorf(combine.ECONFLICT, "a user with email %s already exists", in.Email)
		} else if combine.ErrorCode(err) != combine.ENOTFOUND {
			return err
		}
		u, err = s.insertLocalUser(ctx, tx, in)
		return err
	})
	return u, err
}

// usersByEmail returns every user with this (normalized) email, oldest first.
func usersByEmail(ctx context.Context, q queryer, email string) ([]*combine.User, error) {
	return queryAll(ctx, q, "users", func(r scanner) (*combine.User, error) { return scanUser(r) },
		`SELECT `+userColumns+` FROM users u WHERE u.email = $1 ORDER BY u.created_at, u.id`, email)
}

func userIDs(us []*combine.User) string {
	var ids []string
	for _, u := range us {
		ids = append(ids, u.ID+" ("+u.Provider+")")
	}
	return strings.Join(ids, ", ")
}

// EnsureUser creates a local user, or sets the roles (and name) of the one
// user with that email. Users are identified by provider, not email, so
// when several share the email it refuses (ECONFLICT) rather than guess.
func (s *Service) EnsureUser(ctx context.Context, in combine.UserCreate) (*combine.User, bool, error) {
	in, err := s.validateCreate(in)
	if err != nil {
		return nil, false, err
	}
	var u *combine.User
	created := false
	err = s.withAccessTx(ctx, func(tx *accessTx) error {
		us, err := usersByEmail(ctx, tx, in.Email)
		switch {
		case err != nil:
			return err
		case len(us) == 0:
			created = true
			u, err = s.insertLocalUser(ctx, tx.Tx, in)
			return err
		case len(us) > 1:
			return combine.Errorf(combine.ECONFLICT, "several users have email %s: %s; set roles by id with PATCH /api/v1/users/{id}", in.Email, userIDs(us))
		}
		existing := us[0]
		if in.Name != "" && in.Name != existing.Name {
			if _, err := tx.ExecContext(ctx, `UPDATE users SET name = $1, updated_at = $2 WHERE id = $3`,
				in.Name, sqldb.Time(s.now()), existing.ID); err != nil {
				return fmt.Errorf("update user name: %w", err)
			}
			tx.user(existing.ID)
		}
		roles := in.Roles
		u, err = s.updateUser(ctx, tx, existing.ID, combine.UserUpdate{Roles: &roles})
		return err
	})
	return u, created, err
}

func (s *Service) insertLocalUser(ctx context.Context, tx *sql.Tx, in combine.UserCreate) (*combine.User, error) {
	now := s.now()
	u := &combine.User{
		ID: s.newID("usr_"), Email: in.Email, Name: in.Name, Provider: combine.ProviderLocal,
		Issuer: combine.ProviderLocal, ProviderID: in.Email, Roles: in.Roles, CreatedAt: now,
	}
	if u.Name == "" {
		u.Name = in.Email
	}
	if err := insertUser(ctx, tx, u); err != nil {
		return nil, err
	}
	return u, s.insertAudit(ctx, tx, combine.AuditEntry{
		Action: combine.AuditUserCreate, Target: u.ID,
		Details: map[string]any{"email": u.Email, "roles": u.Roles, "provider": u.Provider},
	})
}

func insertUser(ctx context.Context, tx *sql.Tx, u *combine.User) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO users
		(id, email, name, provider, issuer, provider_id, roles, disabled, created_at, updated_at, last_login_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10)`,
		u.ID, u.Email, u.Name, u.Provider, u.Issuer, u.ProviderID, rolesJSON(u.Roles), u.Disabled,
		sqldb.Time(u.CreatedAt), sqldb.Time(u.LastLoginAt))
	if err != nil {
		return fmt.Errorf("insert user: %w", err)
	}
	return nil
}

// UpdateUser changes roles and/or the disabled flag.
func (s *Service) UpdateUser(ctx context.Context, id string, upd combine.UserUpdate) (*combine.User, error) {
	if upd.Roles == nil && upd.Disabled == nil {
		return nil, combine.Errorf(combine.EINVALID, "nothing to update: give roles and/or disabled")
	}
	var u *combine.User
	err := s.withAccessTx(ctx, func(tx *accessTx) error {
		var err error
		u, err = s.updateUser(ctx, tx, id, upd)
		return err
	})
	return u, err
}

// lockAdmins serializes changes that could remove the last admin. SQLite's
// single writer already does; PostgreSQL needs a transaction-level lock.
func (s *Service) lockAdmins(ctx context.Context, tx *sql.Tx) error {
	if s.db.Dialect != sqldb.Postgres {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(72600001)`); err != nil {
		return fmt.Errorf("lock admins: %w", err)
	}
	return nil
}

func countActiveAdmins(ctx context.Context, q queryer) (int, error) {
	var n int
	err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM users WHERE disabled = FALSE AND roles LIKE '%"admin"%'`).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count admins: %w", err)
	}
	return n, nil
}

func (s *Service) updateUser(ctx context.Context, tx *accessTx, id string, upd combine.UserUpdate) (*combine.User, error) {
	var roles []string
	if upd.Roles != nil {
		var err error
		if roles, err = normalizeRoles(*upd.Roles); err != nil {
			return nil, err
		}
		if len(roles) == 0 {
			// As at creation: a user without a role could do nothing, and
			// "roles": [] is more likely a mistake than a wish.
			return nil, combine.Errorf(combine.EINVALID, "at least one role is required (disable the user instead)")
		}
	}
	if err := s.lockAdmins(ctx, tx.Tx); err != nil {
		return nil, err
	}
	u, err := findUser(ctx, tx, "u.id = $1", id)
	if err != nil {
		return nil, err
	}
	disabled := u.Disabled
	if upd.Roles == nil {
		roles = u.Roles
	}
	if upd.Disabled != nil {
		disabled = *upd.Disabled
	}
	wasAdmin := !u.Disabled && slices.Contains(u.Roles, combine.RoleAdmin)
	staysAdmin := !disabled && slices.Contains(roles, combine.RoleAdmin)
	if wasAdmin && !staysAdmin {
		n, err := countActiveAdmins(ctx, tx)
		if err != nil {
			return nil, err
		}
		if n <= 1 {
			return nil, combine.Errorf(combine.ECONFLICT, "%s is the last active admin and cannot be demoted or disabled; make another user admin first", u.Email)
		}
	}
	now := s.now()
	if _, err := tx.ExecContext(ctx, `UPDATE users SET roles = $1, disabled = $2, updated_at = $3 WHERE id = $4`,
		rolesJSON(roles), disabled, sqldb.Time(now), id); err != nil {
		return nil, fmt.Errorf("update user: %w", err)
	}
	if disabled != u.Disabled || !slices.Equal(roles, u.Roles) {
		tx.user(id)
	}
	if !slices.Equal(roles, u.Roles) {
		if err := s.insertAudit(ctx, tx, combine.AuditEntry{Action: combine.AuditUserRoles, Target: id,
			Details: map[string]any{"from": u.Roles, "to": roles}}); err != nil {
			return nil, err
		}
	}
	if disabled != u.Disabled {
		action := combine.AuditUserEnable
		if disabled {
			action = combine.AuditUserDisable
			if err := revokeAllOf(ctx, tx.Tx, id, now); err != nil {
				return nil, err
			}
		}
		if err := s.insertAudit(ctx, tx, combine.AuditEntry{Action: action, Target: id}); err != nil {
			return nil, err
		}
	}
	u.Roles, u.Disabled = roles, disabled
	return u, nil
}

// revokeAllOf ends every session and token of a user (when disabled).
func revokeAllOf(ctx context.Context, tx *sql.Tx, userID string, now time.Time) error {
	for _, table := range []string{"sessions", "tokens"} {
		if _, err := tx.ExecContext(ctx, `UPDATE `+table+` SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL`,
			sqldb.Time(now), userID); err != nil {
			return fmt.Errorf("revoke %s: %w", table, err)
		}
	}
	return nil
}
