package web

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/thecombine/combine"
	"github.com/thecombine/combine/server"
)

type usersView struct {
	Users  []*combine.User
	Roles  []string
	Error  string
	Email  string
	Name   string
	Picked []string
}

// allRoles are the roles an administrator may grant, permission roles
// first.
func allRoles() []string {
	return append([]string{combine.RoleViewer, combine.RoleOperator, combine.RoleAdmin}, combine.ReviewerRoles...)
}

// handleUsers lists users and their roles.
func (ui *UI) handleUsers(w http.ResponseWriter, r *http.Request) error {
	return ui.renderUsers(w, r, http.StatusOK, &usersView{})
}

func (ui *UI) renderUsers(w http.ResponseWriter, r *http.Request, status int, v *usersView) error {
	us, err := ui.srv.Identity.Users.FindUsers(r.Context(), combine.UserFilter{Limit: 1000})
	if err != nil {
		return err
	}
	v.Users, v.Roles = us, allRoles()
	return ui.render(w, r, status, "users", page{Title: "Users", Nav: "users", Data: v})
}

// handleCreateUser provisions a user with roles.
func (ui *UI) handleCreateUser(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(r); err != nil {
		return err
	}
	v := &usersView{Email: strings.TrimSpace(r.PostForm.Get("email")), Name: strings.TrimSpace(r.PostForm.Get("name")), Picked: r.PostForm["role"]}
	_, err := ui.srv.Identity.Users.CreateUser(r.Context(), combine.UserCreate{Email: v.Email, Name: v.Name, Roles: v.Picked})
	if c := combine.ErrorCode(err); c == combine.EINVALID || c == combine.ECONFLICT {
		v.Error = combine.ErrorMessage(err)
		return ui.renderUsers(w, r, http.StatusBadRequest, v)
	} else if err != nil {
		return err
	}
	return ui.redirect(w, r, "/admin/users", "user_created")
}

// handleUpdateUser sets a user's roles, or disables or enables them.
func (ui *UI) handleUpdateUser(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(r); err != nil {
		return err
	}
	var upd combine.UserUpdate
	switch r.PostForm.Get("action") {
	case "roles":
		roles := slices.Clone(r.PostForm["role"])
		if roles == nil {
			roles = []string{}
		}
		upd.Roles = &roles
	case "disable", "enable":
		d := r.PostForm.Get("action") == "disable"
		upd.Disabled = &d
	default:
		return combine.Errorf(combine.EINVALID, "unknown action")
	}
	_, err := ui.srv.Identity.Users.UpdateUser(r.Context(), r.PathValue("id"), upd)
	if c := combine.ErrorCode(err); c == combine.EINVALID || c == combine.ECONFLICT {
		return ui.renderUsers(w, r, server.ErrorStatus(c), &usersView{Error: combine.ErrorMessage(err)})
	} else if err != nil {
		return err
	}
	return ui.redirect(w, r, "/admin/users", "user_updated")
}

type auditView struct {
	Entries []*combine.AuditEntry
	Actor   string
	Action  string
	Since   string
	Until   string
	Next    string
	Actions []string
}

// auditActions are the actions the filter offers.
var auditActions = []string{
	combine.AuditLoginSuccess, combine.AuditLoginFailure, combine.AuditLogout, combine.AuditSessionRevoke,
	combine.AuditSessionRevokeAll, combine.AuditTokenCreate, combine.AuditTokenRevoke, combine.AuditUserCreate,
	combine.AuditUserRoles, combine.AuditUserDisable, combine.AuditUserEnable, combine.AuditLinkCreate,
	combine.AuditLinkUse, combine.AuditPermissionDenied, combine.AuditExecutionRetry,
}

// handleAudit pages through the audit log with filters: actor, action,
// a date range (days, UTC) and a cursor.
func (ui *UI) handleAudit(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	v := auditView{Actor: strings.TrimSpace(q.Get("actor")), Action: q.Get("action"), Since: q.Get("since"), Until: q.Get("until"), Actions: auditActions}
	f := combine.AuditFilter{Actor: v.Actor, Action: v.Action, Before: q.Get("before"), Limit: 50}
	var err error
	if f.Since, err = day(v.Since, "since"); err != nil {
		return err
	}
	if f.Until, err = day(v.Until, "until"); err != nil {
		return err
	}
	if !f.Until.IsZero() {
		f.Until = f.Until.Add(24*time.Hour - time.Nanosecond) // the whole day
	}
	es, next, err := ui.srv.Identity.Audit.FindAudit(r.Context(), f)
	if err != nil {
		return err
	}
	v.Entries = es
	if next != "" {
		qq := url.Values{}
		for k, vs := range q {
			if k != "before" {
				qq[k] = vs
			}
		}
		qq.Set("before", next)
		v.Next = "/admin/audit?" + qq.Encode()
	}
	return ui.render(w, r, http.StatusOK, "audit", page{Title: "Audit log", Nav: "audit", Data: v})
}

// day parses a date input (YYYY-MM-DD, UTC).
func day(s, name string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		return time.Time{}, combine.Errorf(combine.EINVALID, "%s must be a date like 2026-01-31", name)
	}
	return t, nil
}
