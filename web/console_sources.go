package web

import (
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"

	"github.com/yardmaster/yardmaster/intake"
	"github.com/yardmaster/yardmaster/internal/auth"
	"github.com/yardmaster/yardmaster/internal/opsview"
)

func (cn *Console) sourceRoutes() {
	if cn.svc.Intake == nil {
		return
	}
	cn.route(fiber.MethodGet, "/sources", auth.PermSourcesRead, cn.sourcesPage)
	cn.route(fiber.MethodPost, "/sources", auth.PermSourcesAdmin, cn.sourceCreate)
	cn.route(fiber.MethodGet, "/sources/:id", auth.PermSourcesRead, cn.sourcePage)
	cn.route(fiber.MethodPost, "/sources/:id/rotate", auth.PermSourcesAdmin, cn.sourceRotate)
	cn.route(fiber.MethodPost, "/sources/:id/disable", auth.PermSourcesAdmin, cn.sourceStatus(intake.SourceDisabled))
	cn.route(fiber.MethodPost, "/sources/:id/enable", auth.PermSourcesAdmin, cn.sourceStatus(intake.SourceActive))
}

// sourceKinds are offered by the create form.
var sourceKinds = []intake.Kind{intake.KindAfterShip, intake.KindEasyPost, intake.KindStandard, intake.KindCanonical}

// sourcesModel is the sources list.
type sourcesModel struct {
	Sources []*intake.Source
	Kinds   []intake.Kind
	Form    map[string]string
	Errors  map[string]string
	Created *intake.SourceCreated
}

func (cn *Console) renderSources(c *fiber.Ctx, status int, m sourcesModel) error {
	srcs, err := cn.svc.Intake.Registry.List(c.UserContext())
	if err != nil {
		return err
	}
	m.Sources, m.Kinds = srcs, sourceKinds
	if m.Form == nil {
		m.Form = map[string]string{"kind": string(intake.KindStandard)}
	}
	return cn.render(c, status, "sources", cn.page(c, "Sources", "sources", m))
}

func (cn *Console) sourcesPage(c *fiber.Ctx) error {
	return cn.renderSources(c, fiber.StatusOK, sourcesModel{})
}

func (cn *Console) sourceCreate(c *fiber.Ctx) error {
	f := formValues(c, "name", "kind", "secret", "rate_limit")
	in := intake.AddSource{Name: f["name"], Kind: intake.Kind(f["kind"]), Secret: f["secret"]}
	if f["rate_limit"] != "" {
		r, err := strconv.ParseFloat(f["rate_limit"], 64)
		if err != nil || r <= 0 || r > 100000 {
			return cn.renderSources(c, fiber.StatusUnprocessableEntity, sourcesModel{Form: f,
				Errors: map[string]string{"rate_limit": "requests per second, from 0.1 to 100000; empty for the default"}})
		}
		in.RateLimit = r
	}
	created, err := cn.svc.Intake.Registry.Add(c.UserContext(), in)
	if err != nil {
		fe, err := fieldErrors(err)
		if err != nil {
			return err
		}
		return cn.renderSources(c, fiber.StatusUnprocessableEntity, sourcesModel{Form: f, Errors: fe})
	}
	return cn.renderSources(c, fiber.StatusCreated, sourcesModel{Created: created})
}

// sourceModel is one source's page.
type sourceModel struct {
	Source     *intake.Source
	Created    *intake.SourceCreated
	Deliveries []opsview.Delivery
	Unmapped   []intake.UnmappedCode
	Rejections []intake.Rejection
	Overlaps   []string
}

var rotateOverlaps = []string{"0s", "1h", "24h", "72h", "168h"}

func (cn *Console) renderSource(c *fiber.Ctx, status int, src *intake.Source, created *intake.SourceCreated) error {
	ctx := c.UserContext()
	m := sourceModel{Source: src, Created: created, Overlaps: rotateOverlaps}
	var err error
	if m.Deliveries, err = opsview.RecentDeliveries(ctx, cn.db.Read, src.Name, 50); err != nil {
		return err
	}
	if m.Unmapped, err = cn.svc.Intake.Store.ListUnmapped(ctx, cn.db.Read, src.Name, 100); err != nil {
		return err
	}
	for _, r := range intakeRejections() {
		if r.Source == src.Name {
			m.Rejections = append(m.Rejections, r)
		}
	}
	return cn.render(c, status, "source", cn.page(c, "Source "+src.Name, "sources", m))
}

func (cn *Console) sourcePage(c *fiber.Ctx) error {
	src, err := cn.svc.Intake.Registry.Get(c.UserContext(), utils.CopyString(c.Params("id")))
	if err != nil {
		return err
	}
	return cn.renderSource(c, fiber.StatusOK, src, nil)
}

// sourceRotate issues a new secret, keeping the old one valid for the
// chosen overlap so the partner can switch without dropped deliveries.
func (cn *Console) sourceRotate(c *fiber.Ctx) error {
	overlap, err := time.ParseDuration(c.FormValue("overlap", "24h"))
	if err != nil || overlap < 0 || overlap > 30*24*time.Hour {
		overlap = -1
	}
	created, err := cn.svc.Intake.Registry.Rotate(c.UserContext(), utils.CopyString(c.Params("id")), overlap, "")
	if err != nil {
		return err
	}
	return cn.renderSource(c, fiber.StatusOK, created.Source, created)
}

func (cn *Console) sourceStatus(status string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		src, err := cn.svc.Intake.Registry.SetStatus(c.UserContext(), utils.CopyString(c.Params("id")), status)
		if err != nil {
			return err
		}
		cn.flash(c, "ok", "Source "+src.Name+" is now "+src.Status+".")
		return redirectTo(c, "/sources/"+src.ID)
	}
}
