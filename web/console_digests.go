package web

import (
	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"

	"github.com/yardmaster/yardmaster/internal/auth"
	"github.com/yardmaster/yardmaster/triage/digest"
)

// The digests page: the escalation digests a person (or their team)
// subscribes to, what was sent and when, a preview of the next one, and
// "send now". Subscriptions are edited through the API.

func (cn *Console) digestRoutes() {
	if cn.svc.Digests == nil {
		return
	}
	cn.route(fiber.MethodGet, "/digests", auth.PermDigestsSelf, cn.digestsPage)
	cn.route(fiber.MethodGet, "/digests/:id/preview", auth.PermDigestsSelf, cn.digestPreview)
	cn.route(fiber.MethodPost, "/digests/:id/send", auth.PermDigestsSelf, cn.digestSend)
}

// digestsModel is the digests page.
type digestsModel struct {
	Subscriptions []digest.Subscription
	Runs          []digest.RunSummary
	Preview       *digest.Preview
	PreviewOf     string
}

func (cn *Console) digestsModel(c *fiber.Ctx) (digestsModel, error) {
	ctx := c.UserContext()
	p := sessionOf(c).Principal
	var m digestsModel
	var err error
	if m.Subscriptions, err = cn.svc.Digests.ListSubscriptions(ctx, p, digest.ListFilter{All: p.Can(auth.PermDigestsAdmin)}); err != nil {
		return m, err
	}
	page, err := cn.svc.Digests.ListRuns(ctx, p, digest.RunFilter{Limit: 30})
	if err != nil {
		return m, err
	}
	m.Runs = page.Runs
	return m, nil
}

func (cn *Console) digestsPage(c *fiber.Ctx) error {
	m, err := cn.digestsModel(c)
	if err != nil {
		return err
	}
	return cn.render(c, fiber.StatusOK, "digests", cn.page(c, "Digests", "digests", m))
}

func (cn *Console) digestPreview(c *fiber.Ctx) error {
	id := utils.CopyString(c.Params("id"))
	pv, err := cn.svc.Digests.Preview(c.UserContext(), sessionOf(c).Principal, id)
	if err != nil {
		return err
	}
	m, err := cn.digestsModel(c)
	if err != nil {
		return err
	}
	m.Preview, m.PreviewOf = &pv, id
	return cn.render(c, fiber.StatusOK, "digests", cn.page(c, "Digests", "digests", m))
}

func (cn *Console) digestSend(c *fiber.Ctx) error {
	if _, err := cn.svc.Digests.SendNow(c.UserContext(), sessionOf(c).Principal, utils.CopyString(c.Params("id"))); err != nil {
		return err
	}
	cn.flash(c, "ok", "The digest is being sent now.")
	return redirectTo(c, "/digests")
}
