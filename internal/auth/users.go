package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/uptrace/bun"
	"golang.org/x/crypto/argon2"

	"github.com/yardmaster/yardmaster/internal/apperr"
	"github.com/yardmaster/yardmaster/internal/db"
	"github.com/yardmaster/yardmaster/internal/ids"
)

// User is a local console user.
type User struct {
	bun.BaseModel `bun:"table:users"`

	ID                 string    `bun:"id,pk" json:"id"`
	Username           string    `bun:"username" json:"username"`
	DisplayName        string    `bun:"display_name" json:"display_name"`
	Email              string    `bun:"email" json:"email"`
	Role               Role      `bun:"role" json:"role"`
	Team               string    `bun:"team" json:"team,omitempty"`
	PasswordHash       string    `bun:"password_hash" json:"-"`
	MustChangePassword bool      `bun:"must_change_password" json:"must_change_password"`
	Disabled           bool      `bun:"disabled" json:"disabled"`
	CreatedAt          time.Time `bun:"created_at" json:"created_at"`
	UpdatedAt          time.Time `bun:"updated_at" json:"updated_at"`
}

// Principal returns the principal of a logged-in user.
func (u User) Principal() Principal {
	name := u.DisplayName
	if name == "" {
		name = u.Username
	}
	return Principal{Kind: "user", ID: u.ID, Name: name, Role: u.Role, UserID: u.ID}
}

// UserSpec describes a user to create.
type UserSpec struct {
	Username, DisplayName, Email, Team string
	Role                               Role
	Password                           string
	MustChangePassword                 bool
}

var usernameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._@-]{1,63}$`)

// MinPasswordLen is the shortest accepted password.
const MinPasswordLen = 12

// CreateUser validates and stores a user with an argon2id password hash.
func CreateUser(ctx context.Context, idb bun.IDB, now time.Time, s UserSpec) (User, error) {
	var fe []apperr.FieldError
	s.Username = strings.ToLower(strings.TrimSpace(s.Username))
	if !usernameRE.MatchString(s.Username) {
		fe = append(fe, apperr.FieldError{Field: "username", Message: "2-64 characters: lower-case letters, digits, . _ @ -"})
	}
	if !s.Role.Valid() {
		fe = append(fe, apperr.FieldError{Field: "role", Message: fmt.Sprintf("%q is not one of admin, analyst, manager, account, viewer", s.Role)})
	}
	if len(s.Password) < MinPasswordLen {
		fe = append(fe, apperr.FieldError{Field: "password", Message: fmt.Sprintf("at least %d characters", MinPasswordLen)})
	}
	if len(fe) > 0 {
		return User{}, apperr.Invalid("invalid user", fe...)
	}
	u := User{ID: ids.At(now), Username: s.Username, DisplayName: s.DisplayName, Email: s.Email, Role: s.Role, Team: s.Team,
		PasswordHash: HashPassword(s.Password), MustChangePassword: s.MustChangePassword, CreatedAt: now.UTC(), UpdatedAt: now.UTC()}
	if _, err := idb.NewInsert().Model(&u).Exec(ctx); err != nil {
		if db.IsUniqueViolation(err) {
			return User{}, apperr.Conflict("username " + s.Username + " is taken")
		}
		return User{}, fmt.Errorf("store user: %w", err)
	}
	return u, nil
}

// argon2id parameters (RFC 9106 second recommendation, lighter memory).
const (
	argonTime    = 2
	argonMemory  = 64 * 1024
	argonThreads = 2
	argonKeyLen  = 32
)

// HashPassword returns a PHC-format argon2id hash.
func HashPassword(pw string) string {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		panic(err)
	}
	key := argon2.IDKey([]byte(pw), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		b64.EncodeToString(salt), b64.EncodeToString(key))
}

// dummyHash is compared against when a username does not exist, so the
// response time does not reveal which usernames exist. It is a constant
// with the same parameters as real hashes (TestDummyHashMatchesParameters)
// rather than hashed at start-up, which would cost every command of the
// binary 64 MiB and a sixth of a second.
const dummyHash = "$argon2id$v=19$m=65536,t=2,p=2$r3NZSiKSEjbAdZ61+qK5eA$Zu9PawHCZ5N3YtLy6db1ud8mBZPG2FzO59V3Do0AYVs"

// CheckPassword compares pw with a PHC argon2id hash in constant time.
func CheckPassword(hash, pw string) bool {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil {
		return false
	}
	b64 := base64.RawStdEncoding
	salt, err1 := b64.DecodeString(parts[4])
	want, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil {
		return false
	}
	got := argon2.IDKey([]byte(pw), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// Login checks a username and password and returns the user. Failures are
// indistinguishable to the caller.
func Login(ctx context.Context, idb bun.IDB, username, password string) (User, error) {
	var u User
	err := idb.NewSelect().Model(&u).Where("username = ?", strings.ToLower(strings.TrimSpace(username))).Scan(ctx)
	if err != nil {
		if db.IsNoRows(err) {
			CheckPassword(dummyHash, password)
			return User{}, apperr.Unauthorized("wrong username or password")
		}
		return User{}, fmt.Errorf("load user: %w", err)
	}
	if !CheckPassword(u.PasswordHash, password) || u.Disabled {
		return User{}, apperr.Unauthorized("wrong username or password")
	}
	return u, nil
}

// GetUser loads a user by id.
func GetUser(ctx context.Context, idb bun.IDB, id string) (User, error) {
	var u User
	if err := idb.NewSelect().Model(&u).Where("id = ?", id).Scan(ctx); err != nil {
		if db.IsNoRows(err) {
			return User{}, apperr.NotFound("user "+id, err)
		}
		return User{}, fmt.Errorf("load user: %w", err)
	}
	return u, nil
}

// ListUsers returns all users by username.
func ListUsers(ctx context.Context, idb bun.IDB) ([]User, error) {
	var us []User
	if err := idb.NewSelect().Model(&us).Order("username").Scan(ctx); err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return us, nil
}

// CountUsers returns the number of users.
func CountUsers(ctx context.Context, idb bun.IDB) (int, error) {
	n, err := idb.NewSelect().Model((*User)(nil)).Count(ctx)
	return int(n), err
}

// NewPassword returns a random password for one-time use.
func NewPassword() string {
	b := make([]byte, 18)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
