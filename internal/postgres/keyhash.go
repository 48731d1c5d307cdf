package postgres

import (
	"crypto/sha256"
	"encoding/binary"
)

// BlockKeyHash is how fragrance_keys stores a candidate key
// (matching.BlockKeys): the first 8 bytes of the SHA-256 of the key's
// UTF-8 text, read as a big-endian signed integer. The SQL function
// fragrance_key_hash (migration 00016) computes the same value, so that
// SQL can find a fragrance's keys from its text (verify, tests).
//
// A bigint is fixed-size and smaller than the text keys in the table and
// its primary key, which the import writes 5.8 times per fragrance. Two keys
// with one hash only add candidates to a lookup, and every candidate is
// scored by the matcher against the record itself, so a collision cannot
// merge what does not match.
func BlockKeyHash(key string) int64 {
	sum := sha256.Sum256([]byte(key))
	return int64(binary.BigEndian.Uint64(sum[:8]))
}
