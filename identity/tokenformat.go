package identity

import (
	"hash/crc32"
	"math/big"
	"strings"

	"github.com/thecombine/combine"
)

// A personal access token is "pat_", 43 base62 characters encoding 32
// random bytes, and 6 base62 characters of the CRC32 of everything before
// them. The checksum lets secret scanners (and Authenticate) reject
// look-alikes without a database; it adds no secrecy.
const (
	base62          = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	tokenBodyLen    = 43
	tokenCheckLen   = 6
	tokenLen        = len(combine.PersonalAccessTokenPrefix) + tokenBodyLen + tokenCheckLen
	tokenDisplayLen = 3
)

// isBase62 is the alphabet as a table: every request checks 49 characters.
var isBase62 = func() (t [256]bool) {
	for i := range len(base62) {
		t[base62[i]] = true
	}
	return t
}()

// newToken returns a fresh token text.
func (s *Service) newToken() string {
	n := new(big.Int).SetBytes(s.randomBytes(32))
	body := make([]byte, tokenBodyLen)
	b62 := big.NewInt(62)
	mod := new(big.Int)
	for i := tokenBodyLen - 1; i >= 0; i-- {
		n.DivMod(n, b62, mod)
		body[i] = base62[mod.Int64()]
	}
	head := combine.PersonalAccessTokenPrefix + string(body)
	return head + checksum(head)
}

// checksum is the base62, fixed-width CRC32 of head.
func checksum(head string) string {
	c := uint64(crc32.ChecksumIEEE([]byte(head)))
	var out [tokenCheckLen]byte
	for i := tokenCheckLen - 1; i >= 0; i-- {
		out[i] = base62[c%62]
		c /= 62
	}
	return string(out[:])
}

// ValidTokenFormat reports whether s has the shape and checksum of a
// personal access token. It needs no database.
func ValidTokenFormat(s string) bool {
	if len(s) != tokenLen || !strings.HasPrefix(s, combine.PersonalAccessTokenPrefix) {
		return false
	}
	for i := len(combine.PersonalAccessTokenPrefix); i < len(s); i++ {
		if !isBase62[s[i]] {
			return false
		}
	}
	head := s[:len(s)-tokenCheckLen]
	return checksum(head) == s[len(s)-tokenCheckLen:]
}

// displayToken masks a token as pat_abc...wxyz.
func displayToken(tok string) string {
	p := len(combine.PersonalAccessTokenPrefix)
	return tok[:p+tokenDisplayLen] + "..." + tok[len(tok)-4:]
}
