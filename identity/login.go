package identity

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"

	"github.com/thecombine/combine"
	"github.com/thecombine/combine/sqldb"
)

// Login refusal reasons, recorded in the audit log.
const (
	ReasonEmailNotVerified = "email_not_verified"
	ReasonEmailMissing     = "email_missing"
	ReasonDomainNotAllowed = "domain_not_allowed"
	ReasonUserDisabled     = "user_disabled"
	ReasonBadIdentity      = "incomplete_identity"
	ReasonLinkInvalid      = "link_invalid"
	ReasonEmailInvalid     = "email_invalid"
)

// loginRefused is the error a refused sign-in returns: 403 with a message
// the login page can show.
func loginRefused(reason, msg string) error {
	return &combine.Error{Code: combine.EFORBIDDEN, Message: msg, Details: map[string]any{"reason": reason}}
}

// LoginExternal signs in the person an identity provider vouched for.
// The user is found by (issuer, subject) only — never by email, so a
// provider that asserts someone else's address cannot take over their
// account. An unknown identity becomes a new user with DEFAULT_ROLE
// (admin too when the email is in ADMIN_EMAILS). Every call
// opens a fresh session and is audited, refusals with their reason.
func (s *Service) LoginExternal(ctx context.Context, id combine.ExternalIdentity, req combine.LoginRequest) (*combine.User, *combine.Session, string, error) {
	ctx = combine.NewContextWithClientAddr(ctx, firstNonEmpty(combine.ClientAddrFromContext(ctx), req.ClientAddr))
	email := normEmail(id.Email)
	fail := func(reason, msg string, userID string) (*combine.User, *combine.Session, string, error) {
		s.auditLoginFailure(ctx, safeText(id.Provider, 40), safeText(email, MaxEmail), userID, reason)
		return nil, nil, "", loginRefused(reason, msg)
	}
	// What a provider asserts is untrusted text: it must be storable, and
	// an email with control characters is no email at all.
	validEmail, emailErr := validateEmail(email)
	switch {
	case id.Provider == "" || id.Issuer == "" || id.Subject == "" ||
		!combine.ValidText(id.Issuer) || !combine.ValidText(id.Subject) || !combine.ValidText(id.Provider):
		return fail(ReasonBadIdentity, "the identity provider did not identify the user", "")
	case email == "":
		return fail(ReasonEmailMissing, "the identity provider did not share an email address", "")
	case emailErr != nil:
		return fail(ReasonEmailInvalid, "the identity provider's email address is not valid", "")
	case !id.EmailVerified:
		return fail(ReasonEmailNotVerified, "your email address is not verified by the identity provider", "")
	case !s.domainAllowed(email):
		return fail(ReasonDomainNotAllowed, "sign-in is not allowed for the domain of "+email, "")
	}
	email = validEmail
	id.Name = safeText(strings.TrimSpace(id.Name), MaxUserName)
	var (
		u      *combine.User
		sess   *combine.Session
		secret string
	)
	err := s.withAccessTx(ctx, func(tx *accessTx) error {
		var err error
		u, err = s.resolveExternal(ctx, tx, id, email)
		if err != nil {
			return err
		}
		if u.Disabled {
			return loginRefused(ReasonUserDisabled, "your account is disabled")
		}
		sess, secret, err = s.createSession(ctx, tx.Tx, u.ID, req)
		if err != nil {
			return err
		}
		return s.insertAudit(ctx, tx, combine.AuditEntry{ActorID: u.ID, Actor: u.Email, Action: combine.AuditLoginSuccess,
			Target: sess.ID, Details: map[string]any{"provider": id.Provider}})
	})
	if err != nil {
		if combine.ErrorCode(err) == combine.EFORBIDDEN && u != nil {
			s.auditLoginFailure(ctx, id.Provider, email, u.ID, ReasonUserDisabled)
		}
		return nil, nil, "", err
	}
	return u, sess, secret, nil
}

// resolveExternal finds or creates the user of id inside tx and
// records the login on it (name, email, last_login_at, ADMIN_EMAILS).
func (s *Service) resolveExternal(ctx context.Context, tx *accessTx, id combine.ExternalIdentity, email string) (*combine.User, error) {
	now := s.now()
	name := strings.TrimSpace(id.Name)
	u, err := findUser(ctx, tx, "u.issuer = $1 AND u.provider_id = $2", id.Issuer, id.Subject)
	switch combine.ErrorCode(err) {
	case "":
	case combine.ENOTFOUND:
		u, err = s.createExternal(ctx, tx.Tx, id, email, name)
		if err != nil {
			return nil, err
		}
	default:
		return nil, err
	}
	if u.Disabled {
		return u, nil
	}
	if name == "" {
		name = u.Name
	}
	roles := u.Roles
	if s.isAdminEmail(email) && !slices.Contains(roles, combine.RoleAdmin) {
		roles = append(slices.Clone(roles), combine.RoleAdmin)
		slices.Sort(roles)
		if err := s.insertAudit(ctx, tx, combine.AuditEntry{ActorID: u.ID, Actor: email, Action: combine.AuditUserRoles,
			Target: u.ID, Reason: "ADMIN_EMAILS", Details: map[string]any{"from": u.Roles, "to": roles}}); err != nil {
			return nil, err
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE users SET email = $1, name = $2, roles = $3, last_login_at = $4, updated_at = $4 WHERE id = $5`,
		email, name, rolesJSON(roles), sqldb.Time(now), u.ID); err != nil {
		return nil, fmt.Errorf("record login: %w", err)
	}
	if email != u.Email || name != u.Name || !slices.Equal(roles, u.Roles) {
		// What /me shows and what the user may do come from the cache.
		tx.user(u.ID)
	}
	u.Email, u.Name, u.Roles, u.LastLoginAt = email, name, roles, now
	return u, nil
}

// createExternal records a first sign-in by id as a new user.
func (s *Service) createExternal(ctx context.Context, tx *sql.Tx, id combine.ExternalIdentity, email, name string) (*combine.User, error) {
	if name == "" {
		name = email
	}
	u := &combine.User{
		ID: s.newID("usr_"), Email: email, Name: name, Provider: id.Provider, Issuer: id.Issuer,
		ProviderID: id.Subject, Roles: []string{s.opts.DefaultRole}, CreatedAt: s.now(),
	}
	if err := insertUser(ctx, tx, u); err != nil {
		return nil, err
	}
	return u, s.insertAudit(ctx, tx, combine.AuditEntry{ActorID: u.ID, Actor: email, Action: combine.AuditUserCreate,
		Target: u.ID, Details: map[string]any{"email": email, "roles": u.Roles, "provider": id.Provider}})
}

func (s *Service) auditLoginFailure(ctx context.Context, provider, email, userID, reason string) {
	s.RecordFailure(ctx, combine.AuditEntry{ActorID: userID, Actor: firstNonEmpty(email, "anonymous"),
		Action: combine.AuditLoginFailure, Outcome: combine.OutcomeFailure, Reason: reason,
		Details: map[string]any{"provider": provider}})
}

func (s *Service) domainAllowed(email string) bool {
	if len(s.opts.AllowedEmailDomains) == 0 {
		return true
	}
	return slices.Contains(s.opts.AllowedEmailDomains, emailDomain(email))
}

func (s *Service) isAdminEmail(email string) bool {
	return slices.Contains(s.opts.AdminEmails, email)
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
