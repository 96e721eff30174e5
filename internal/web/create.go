package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/fleet"
	"github.com/vagon-dashboard/dashboard/internal/vagon"
	"github.com/vagon-dashboard/dashboard/internal/views"
)

// knownRegions are offered in the region select; any other region the API
// knows can be typed under "Other".
var knownRegions = []string{"dublin", "frankfurt", "london", "virginia", "oregon", "tokyo", "singapore", "sao-paulo", "mumbai"}

// regionPattern is what a region name may look like.
var regionPattern = regexp.MustCompile(`^[a-z0-9-]{1,64}$`)

// Limits of the create form.
const (
	maxCreateQuantity = 50
	maxSoftwareIDs    = 100
	maxPlanID         = 1 << 31
)

// maxKnownPlans is how many plans that worked before the form offers.
const maxKnownPlans = 10

// newMachinesForm is GET /machines/new: the form with the documented
// permission defaults and the software catalog.
func (s *Server) newMachinesForm(c echo.Context) error {
	def := vagon.DefaultPermissions().AsMap()
	v := views.CreateView{Form: views.CreateForm{Quantity: "1", Perms: def}}
	ctx, cancel := withTimeout(c, apiTimeout)
	defer cancel()
	s.fillCatalog(ctx, &v)
	s.fillKnownPlans(ctx, &v)
	return s.renderCreate(c, http.StatusOK, v)
}

// fillKnownPlans offers the plan IDs that created machines before. The
// list is a convenience: when it can't be read the form works without it.
func (s *Server) fillKnownPlans(ctx context.Context, v *views.CreateView) {
	plans, err := s.store.KnownPlans(ctx, maxKnownPlans)
	if err != nil {
		s.log.Warn("known plans", "err", err.Error())
		return
	}
	for _, p := range plans {
		v.KnownPlans = append(v.KnownPlans, views.KnownPlanOption{
			ID: strconv.FormatInt(p.PlanID, 10), Machines: p.Machines, LastAt: p.LastAt})
	}
}

// knownPlan reports whether plan is among the plans that worked before.
func knownPlan(v views.CreateView, plan string) bool {
	return slices.ContainsFunc(v.KnownPlans, func(o views.KnownPlanOption) bool { return o.ID == plan })
}

// fillCatalog loads GET /software into the pickers and returns the catalog
// (nil when it could not be read; v.CatalogError then says so).
func (s *Server) fillCatalog(ctx context.Context, v *views.CreateView) *vagon.SoftwareCatalog {
	for _, r := range knownRegions {
		v.Regions = append(v.Regions, views.Option{Value: r, Label: r})
	}
	v.Regions = append(v.Regions, views.Option{Value: views.RegionOther, Label: "Other (type below)"})
	for _, pm := range fleet.Permissions {
		v.Permissions = append(v.Permissions, views.PermissionView{Key: pm.Key, Label: pm.Label, On: v.Form.Perms[pm.Key]})
	}
	cat, err := s.api.ListSoftware(ctx)
	if err != nil {
		v.CatalogError = "The software catalog could not be loaded, so software and base images can't be chosen now. " + fleet.ExplainAPIError(err)
		return nil
	}
	for _, sw := range cat.Software {
		v.Software = append(v.Software, views.Option{Value: strconv.FormatInt(sw.ID, 10), Label: sw.Name + " (" + views.FormatBytes(sw.Size) + ")"})
	}
	for _, im := range cat.BaseImages {
		v.BaseImages = append(v.BaseImages, views.Option{Value: strconv.FormatInt(im.ID, 10), Label: im.Name + " (" + views.FormatBytes(im.Size) + ")"})
	}
	return cat
}

// createFormFrom reads the form's fields as typed.
func createFormFrom(form url.Values) views.CreateForm {
	f := views.CreateForm{
		PlanID:      strings.TrimSpace(form.Get("plan_id")),
		Quantity:    strings.TrimSpace(form.Get("quantity")),
		Region:      strings.TrimSpace(form.Get("region")),
		RegionText:  strings.TrimSpace(form.Get("region_other")),
		SoftwareIDs: form["software_ids"],
		BaseImageID: strings.TrimSpace(form.Get("base_image_id")),
		Perms:       map[string]bool{},
	}
	for _, k := range vagon.PermissionKeys {
		f.Perms[k] = isTrue(form.Get("perm_" + k))
	}
	return f
}

// validateCreate checks the form before any call and builds the request.
// cat may be nil when the catalog could not be read: software and images
// can't be checked then, so choosing them is refused.
func validateCreate(f views.CreateForm, cat *vagon.SoftwareCatalog) (*vagon.CreateMachinesRequest, map[string]string) {
	errs := map[string]string{}
	req := &vagon.CreateMachinesRequest{}
	if n, err := strconv.ParseInt(f.PlanID, 10, 64); err != nil || n < 1 || n > maxPlanID {
		errs["plan_id"] = "Enter the plan ID: a positive whole number."
	} else {
		req.PlanID = n
	}
	if n, err := strconv.Atoi(f.Quantity); err != nil || n < 1 || n > maxCreateQuantity {
		errs["quantity"] = "Enter a quantity from 1 to 50."
	} else {
		req.Quantity = n
	}
	region := f.Region
	if region == views.RegionOther {
		region = f.RegionText
		if region == "" {
			errs["region"] = "Type the region under \"Other region\", or pick one."
		}
	}
	if region != "" && !regionPattern.MatchString(region) {
		errs["region"] = "A region is at most 64 lowercase letters, digits and dashes (for example dublin)."
	}
	req.Region = region
	if len(f.SoftwareIDs) > maxSoftwareIDs {
		errs["software_ids"] = "Choose fewer software packages."
	} else {
		for _, s := range f.SoftwareIDs {
			n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
			if err != nil || cat == nil || !slices.ContainsFunc(cat.Software, func(sw vagon.Software) bool { return sw.ID == n }) {
				errs["software_ids"] = "Choose software from the catalog."
				break
			}
			if !slices.Contains(req.SoftwareIDs, n) {
				req.SoftwareIDs = append(req.SoftwareIDs, n)
			}
		}
	}
	if f.BaseImageID != "" {
		n, err := strconv.ParseInt(f.BaseImageID, 10, 64)
		if err != nil || cat == nil || !slices.ContainsFunc(cat.BaseImages, func(im vagon.BaseImage) bool { return im.ID == n }) {
			errs["base_image_id"] = "Choose a base image from the catalog, or Latest."
		} else {
			req.BaseImageID = &n
		}
	}
	perms := vagon.Permissions{
		PublicInternetAccess:            f.Perms[vagon.PermPublicInternetAccess],
		CanDownloadFromVagonWorkstation: f.Perms[vagon.PermCanDownload],
		CanUploadToWorkstation:          f.Perms[vagon.PermCanUpload],
		AnalyticsCollectionEnabled:      f.Perms[vagon.PermAnalyticsCollection],
		ClipboardEnabled:                f.Perms[vagon.PermClipboard],
		ScreenRecordingEnabled:          f.Perms[vagon.PermScreenRecording],
		InputRecordingEnabled:           f.Perms[vagon.PermInputRecording],
	}
	req.Permissions = &perms
	return req, errs
}

// createSummary describes a validated request in words for the confirmation.
func createSummary(req *vagon.CreateMachinesRequest, cat *vagon.SoftwareCatalog) []string {
	out := []string{
		"Plan " + strconv.FormatInt(req.PlanID, 10) + ", " + views.Plural(req.Quantity, "machine", "machines") + ".",
	}
	if req.Region == "" {
		out = append(out, "Region: the account's default region.")
	} else {
		out = append(out, "Region: "+req.Region+".")
	}
	var sw []string
	for _, id := range req.SoftwareIDs {
		for _, s := range cat.Software {
			if s.ID == id {
				sw = append(sw, s.Name+" ("+views.FormatBytes(s.Size)+")")
			}
		}
	}
	if len(sw) == 0 {
		out = append(out, "Software: none.")
	} else {
		out = append(out, "Software: "+strings.Join(sw, ", ")+".")
	}
	image := "the latest base image"
	if req.BaseImageID != nil {
		for _, im := range cat.BaseImages {
			if im.ID == *req.BaseImageID {
				image = im.Name
			}
		}
	}
	out = append(out, "Base image: "+image+".")
	var on, off []string
	perms := req.Permissions.AsMap()
	for _, pm := range fleet.Permissions {
		if perms[pm.Key] {
			on = append(on, pm.Label)
		} else {
			off = append(off, pm.Label)
		}
	}
	if len(on) > 0 {
		out = append(out, "On: "+strings.Join(on, ", ")+".")
	}
	if len(off) > 0 {
		out = append(out, "Off: "+strings.Join(off, ", ")+".")
	}
	return out
}

// createMachines is POST /machines. The first post validates and shows the
// confirmation; edit=true goes back to the form; the confirmed post (with
// confirmed=true and the confirmation's token) creates the machines,
// audited as machine.create, and lists them.
func (s *Server) createMachines(c echo.Context) error {
	form, err := c.FormParams()
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest)
	}
	v := views.CreateView{Form: createFormFrom(form)}
	ctx, cancel := withTimeout(c, apiTimeout)
	defer cancel()
	cat := s.fillCatalog(ctx, &v)
	s.fillKnownPlans(ctx, &v)
	if form.Get("edit") == "true" {
		return s.renderCreate(c, http.StatusOK, v)
	}
	req, errs := validateCreate(v.Form, cat)
	if len(errs) > 0 {
		v.Errors = errs
		return s.renderCreate(c, http.StatusUnprocessableEntity, v)
	}
	token := form.Get("token")
	if form.Get("confirmed") != "true" || !validConfirmToken(token) {
		v.Confirm, v.Token, v.Summary = true, newConfirmToken(), createSummary(req, cat)
		// The API can't look a plan up; say so when this one is new.
		v.PlanUnverified = !knownPlan(v, v.Form.PlanID)
		return s.renderCreate(c, http.StatusOK, v)
	}
	// Claimed in Postgres before the call: of several submits of this
	// confirmation, only the first reaches the API.
	prev, err := s.claimConfirm(c, fleet.ActMachineCreate, token)
	if errors.Is(err, db.ErrConfirmUsed) {
		v.Replayed = true
		v.Replay = views.CreateReplay{Pending: prev.FinishedAt == nil, MachineIDs: prev.Refs, AuditURL: "/audit?action=" + fleet.ActMachineCreate}
		return s.renderCreate(c, http.StatusConflict, v)
	}
	if err != nil {
		return err
	}
	return s.confirmedCreate(ctx, c, v, req, token)
}

// confirmedCreate makes the one API call of a claimed confirmation and shows
// the machines, or the API's error next to the field it is about.
func (s *Server) confirmedCreate(ctx context.Context, c echo.Context, v views.CreateView, req *vagon.CreateMachinesRequest, token string) error {
	res, err := s.fleet.Create(ctx, s.actor(c), fleet.CreateInput{Request: req})
	if errors.Is(err, fleet.ErrAuditUnavailable) {
		s.releaseConfirm(ctx, fleet.ActMachineCreate, token) // nothing was sent
		return err
	}
	var ids []string
	if res != nil {
		for _, m := range res.Created {
			ids = append(ids, string(m.ID))
		}
	}
	s.finishConfirm(ctx, fleet.ActMachineCreate, token, ids)
	if res == nil || res.Status != fleet.ActionDone {
		// Created but only the audit row is late counts as done (the late
		// row is logged and spooled).
		v.Errors = createAPIErrors(err, req)
		return s.renderCreate(c, http.StatusUnprocessableEntity, v)
	}
	for _, m := range res.Created {
		v.Created = append(v.Created, views.CreatedMachine{ID: string(m.ID), Name: m.Attributes.Name})
	}
	return s.renderCreate(c, http.StatusOK, v)
}

// createAPIErrors puts each documented error of create machines next to the
// field it is about; the form keeps every field as typed.
func createAPIErrors(err error, req *vagon.CreateMachinesRequest) map[string]string {
	errs := map[string]string{"": fleet.ExplainAPIError(err)}
	switch vagon.CodeOf(err) {
	case vagon.CodeRegionRequired:
		errs["region"] = "Choose a region: the account has no default region. (Vagon code 4202)"
	case vagon.CodeNotFound:
		// On create, the only thing that can be missing is the plan.
		plan := strconv.FormatInt(req.PlanID, 10)
		errs[""] = "Nothing was created: Vagon does not know plan " + plan + "."
		errs["plan_id"] = "Plan not found: Vagon does not know plan " + plan + ". Check the ID, pick a plan that worked before, or ask Vagon for your plan IDs. (Vagon code 404)"
	case vagon.CodeInsufficientBalance:
		errs["quantity"] = "The organization's balance does not cover " + views.Plural(req.Quantity, "new machine", "new machines") + ". (Vagon code 480)"
	}
	return errs
}

func (s *Server) renderCreate(c echo.Context, status int, v views.CreateView) error {
	p := s.page(c, "Create machines", views.NavMachines)
	if isHTMX(c) {
		return render(c, status, views.CreateContent(p, v))
	}
	return render(c, status, views.CreatePage(p, v))
}
