package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/thecombine/combine"
)

// codeStatus is the one place error codes become HTTP statuses.
var codeStatus = map[string]int{
	combine.EINVALID:          http.StatusBadRequest,
	combine.EUNAUTHORIZED:     http.StatusUnauthorized,
	combine.EFORBIDDEN:        http.StatusForbidden,
	combine.ENOTFOUND:         http.StatusNotFound,
	combine.EMETHODNOTALLOWED: http.StatusMethodNotAllowed,
	combine.ECONFLICT:         http.StatusConflict,
	combine.ETOOLARGE:         http.StatusRequestEntityTooLarge,
	combine.ERATELIMITED:      http.StatusTooManyRequests,
	combine.EINTERNAL:         http.StatusInternalServerError,
	combine.EUNAVAILABLE:      http.StatusServiceUnavailable,
}

// ErrorStatus returns the HTTP status for an error code.
func ErrorStatus(code string) int {
	if s, ok := codeStatus[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// errorBody is the contract's error shape.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code               string         `json:"code"`
	Message            string         `json:"message"`
	RequiredPermission string         `json:"required_permission,omitempty"`
	Details            map[string]any `json:"details,omitempty"`
	RequestID          string         `json:"request_id,omitempty"`
}

// Error writes err as the contract's JSON error, or as an HTML page for a
// Page route (see Pages). Internal errors are logged with the request id
// and reach the client only as "internal error".
func (s *Server) Error(w http.ResponseWriter, r *http.Request, err error) {
	if s.isPage(r) {
		s.Pages.RenderError(w, r, err)
		return
	}
	code, msg := combine.ErrorCode(err), combine.ErrorMessage(err)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		code, msg = combine.ETOOLARGE, fmt.Sprintf("request body exceeds %d bytes", mbe.Limit)
	}
	status := ErrorStatus(code)
	body := errorBody{Error: errorDetail{Code: code, Message: msg, RequestID: combine.RequestIDFromContext(r.Context())}}
	var e *combine.Error
	if errors.As(err, &e) && code != combine.EINTERNAL {
		body.Error.RequiredPermission = e.Permission
		body.Error.Details = e.Details
		if ra, ok := e.Details[combine.RetryAfterKey]; ok {
			w.Header().Set("Retry-After", fmt.Sprint(ra))
		}
	}
	if code == combine.EINTERNAL {
		s.logger.ErrorContext(r.Context(), "internal error",
			slog.String("request_id", combine.RequestIDFromContext(r.Context())),
			slog.String("error", err.Error()))
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="combine"`)
	}
	WriteJSON(w, status, body)
}

// WriteJSON writes v as a JSON response with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if v == nil || status == http.StatusNoContent {
		return
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// DecodeJSON reads the request body as JSON into v, refusing unknown
// fields, trailing data, a wrong content type, duplicate keys, deep
// nesting and text that cannot be stored (not UTF-8, NUL, lone
// surrogates; see checkJSONText) with a clear 400, and an oversized body
// with 413.
func DecodeJSON(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && mt != "text/json") {
			return combine.Errorf(combine.EINVALID, "Content-Type must be application/json, not %q", combine.TruncateText(strings.ToValidUTF8(ct, "?"), 100))
		}
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return jsonError(err)
	}
	if err := checkJSONText(body); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if err := dec.Decode(&struct{}{}); err != io.EOF {
		return combine.Errorf(combine.EINVALID, "request body must hold a single JSON value")
	}
	return nil
}

func jsonError(err error) error {
	var mbe *http.MaxBytesError
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &mbe):
		return err
	case errors.Is(err, io.EOF):
		return combine.Errorf(combine.EINVALID, "request body is empty; a JSON object is expected")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return combine.Errorf(combine.EINVALID, "request body is truncated JSON")
	case errors.As(err, &syn):
		return combine.Errorf(combine.EINVALID, "request body is not valid JSON (at byte %d)", syn.Offset)
	case errors.As(err, &typ):
		if typ.Field != "" {
			return combine.Errorf(combine.EINVALID, "field %q must be %s, not %s", typ.Field, typ.Type, typ.Value)
		}
		return combine.Errorf(combine.EINVALID, "request body must be %s, not %s", typ.Type, typ.Value)
	}
	return combine.Errorf(combine.EINVALID, "invalid request body: %s", err.Error())
}

// QueryInt parses an optional integer query parameter within [lo, hi].
func QueryInt(r *http.Request, name string, def, lo, hi int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, combine.Errorf(combine.EINVALID, "query parameter %q must be a whole number in [%d, %d]", name, lo, hi)
	}
	return n, nil
}
