package login

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"
)

// stateTTL bounds how long a sign-in may take at the identity provider.
const stateTTL = 10 * time.Minute

// flowState is what the browser carries between the redirect to the
// provider and the callback: the values that bind the callback to this
// browser (state), the ID token to this request (nonce), and the code to
// this client instance (the PKCE verifier). It is signed, not encrypted;
// the cookie is HttpOnly and only ever sent back to this service.
type flowState struct {
	Provider string `json:"p"`
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	Next     string `json:"r"`
	Expires  int64  `json:"e"`
}

// stateCodec signs and checks flow-state cookies with a key derived from
// SECRET_KEY, so the raw secret key is used for nothing else here.
type stateCodec struct {
	key    []byte
	secure bool
}

func newStateCodec(secretKey string, secure bool) stateCodec {
	m := hmac.New(sha256.New, []byte(secretKey))
	m.Write([]byte("combine/login-flow-state/v1"))
	return stateCodec{key: m.Sum(nil), secure: secure}
}

// cookieName is distinct per provider, so parallel sign-ins with two
// providers (or the provider's own cookies on the same host) never clash.
func (c stateCodec) cookieName(provider string) string {
	if c.secure {
		return "__Host-combine_login_" + provider
	}
	return "combine_login_" + provider
}

func (c stateCodec) mac(name, payload string) []byte {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte(name))
	m.Write([]byte{0})
	m.Write([]byte(payload))
	return m.Sum(nil)
}

// cookie encodes st as a signed, HttpOnly, SameSite=Lax cookie. Lax is
// what lets the top-level redirect back from the provider carry it.
func (c stateCodec) cookie(st flowState) *http.Cookie {
	name := c.cookieName(st.Provider)
	raw, _ := json.Marshal(st)
	payload := base64.RawURLEncoding.EncodeToString(raw)
	sig := base64.RawURLEncoding.EncodeToString(c.mac(name, payload))
	return &http.Cookie{
		Name:     name,
		Value:    payload + "." + sig,
		Path:     "/",
		MaxAge:   int(stateTTL / time.Second),
		Expires:  time.Unix(st.Expires, 0),
		HttpOnly: true,
		Secure:   c.secure,
		SameSite: http.SameSiteLaxMode,
	}
}

// clear is the cookie that deletes provider's flow state.
func (c stateCodec) clear(provider string) *http.Cookie {
	return &http.Cookie{
		Name: c.cookieName(provider), Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: c.secure, SameSite: http.SameSiteLaxMode,
	}
}

// Errors of decode, told apart for the audit reason.
var (
	errStateMissing  = errors.New("no sign-in in progress (the flow cookie is missing)")
	errStateInvalid  = errors.New("the flow cookie is invalid")
	errStateExpired  = errors.New("the sign-in took longer than 10 minutes")
	errStateProvider = errors.New("the flow cookie belongs to another provider")
)

// decode checks the signature and the expiry of a flow cookie's value.
func (c stateCodec) decode(provider, value string, now time.Time) (*flowState, error) {
	if value == "" {
		return nil, errStateMissing
	}
	payload, sig, ok := strings.Cut(value, ".")
	if !ok {
		return nil, errStateInvalid
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, c.mac(c.cookieName(provider), payload)) {
		return nil, errStateInvalid
	}
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return nil, errStateInvalid
	}
	var st flowState
	if err := json.Unmarshal(raw, &st); err != nil {
		return nil, errStateInvalid
	}
	if st.Provider != provider {
		return nil, errStateProvider
	}
	if now.Unix() >= st.Expires {
		return nil, errStateExpired
	}
	return &st, nil
}

// randomToken returns 32 random bytes, URL-safe.
func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
