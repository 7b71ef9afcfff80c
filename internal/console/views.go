package console

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/yardmaster/yardmaster/internal/apperr"
	"github.com/yardmaster/yardmaster/internal/db"
	"github.com/yardmaster/yardmaster/internal/ids"
)

// View is a saved filter of a console list page (the triage queue): a name
// and the query string that reproduces it. Shared views are visible to
// everyone; only their owner deletes them.
type View struct {
	bun.BaseModel `bun:"table:console_saved_views"`

	ID        string    `bun:"id,pk" json:"id"`
	UserID    string    `bun:"user_id" json:"user_id"`
	Page      string    `bun:"page" json:"page"`
	Name      string    `bun:"name" json:"name"`
	Query     string    `bun:"query" json:"query"`
	Shared    bool      `bun:"shared" json:"shared"`
	CreatedAt time.Time `bun:"created_at" json:"created_at"`
}

// Views stores saved views.
type Views struct {
	DB  *db.DB
	Now func() time.Time
}

// MaxViewQuery bounds a saved query string.
const MaxViewQuery = 2000

// Save validates and stores a view. The query is re-encoded so what is
// stored is exactly what the page will parse.
func (v *Views) Save(ctx context.Context, userID, page, name, query string, shared bool) (View, error) {
	name = strings.TrimSpace(name)
	var fe []apperr.FieldError
	if name == "" || len(name) > 80 {
		fe = append(fe, apperr.FieldError{Field: "name", Message: "1-80 characters"})
	}
	q, err := url.ParseQuery(strings.TrimPrefix(query, "?"))
	if err != nil {
		fe = append(fe, apperr.FieldError{Field: "query", Message: "not a query string: " + err.Error()})
	}
	q.Del("cursor")
	q.Del("_csrf")
	enc := q.Encode()
	if len(enc) > MaxViewQuery {
		fe = append(fe, apperr.FieldError{Field: "query", Message: fmt.Sprintf("at most %d characters", MaxViewQuery)})
	}
	if len(fe) > 0 {
		return View{}, apperr.Invalid("invalid saved view", fe...)
	}
	now := v.Now().UTC()
	view := View{ID: ids.At(now), UserID: userID, Page: page, Name: name, Query: enc, Shared: shared, CreatedAt: now}
	if _, err := v.DB.NewInsert().Model(&view).Exec(ctx); err != nil {
		if db.IsUniqueViolation(err) {
			return View{}, apperr.Invalid("invalid saved view", apperr.FieldError{Field: "name", Message: "you already have a view named " + name})
		}
		return View{}, fmt.Errorf("console: save view: %w", err)
	}
	return view, nil
}

// List returns the user's views of a page and the views others shared,
// by name.
func (v *Views) List(ctx context.Context, userID, page string) ([]View, error) {
	var out []View
	err := v.DB.Read.NewSelect().Model(&out).Where("page = ?", page).
		WhereGroup(" AND ", func(q *bun.SelectQuery) *bun.SelectQuery {
			return q.Where("user_id = ?", userID).WhereOr("shared = ?", true)
		}).Order("name", "id").Limit(200).Scan(ctx)
	if err != nil {
		return nil, fmt.Errorf("console: list views: %w", err)
	}
	return out, nil
}

// Delete removes one of the user's own views.
func (v *Views) Delete(ctx context.Context, userID, id string) error {
	res, err := v.DB.NewDelete().Model((*View)(nil)).Where("id = ? AND user_id = ?", id, userID).Exec(ctx)
	if err != nil {
		return fmt.Errorf("console: delete view: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return apperr.NotFound("saved view "+id, nil)
	}
	return nil
}
