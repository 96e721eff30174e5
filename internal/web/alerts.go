package web

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/fleet"
	"github.com/vagon-dashboard/dashboard/internal/views"
)

// Alert destinations (issue 11, admin). A destination's URL and secret are
// credentials: the page shows the URL masked (fleet.MaskWebhookURL) and
// never the secret, neither is put back into a form, and an empty URL or
// secret on edit keeps the stored one.

// deliveriesShown is how many deliveries each destination's log shows.
const deliveriesShown = 10

func (s *Server) alertsView(c echo.Context, form views.WebhookForm) (views.AlertsView, error) {
	ctx := c.Request().Context()
	hooks, err := s.alerts.Webhooks(ctx)
	if err != nil {
		return views.AlertsView{}, fmt.Errorf("%w: %v", errDBUnavailable, err)
	}
	v := views.AlertsView{Form: form}
	for _, e := range fleet.AlertEvents {
		v.Events = append(v.Events, views.Option{Value: e, Label: fleet.AlertEventLabel(e)})
	}
	for _, w := range hooks {
		row, err := s.webhookRow(c, w)
		if err != nil {
			return v, err
		}
		v.Webhooks = append(v.Webhooks, row)
	}
	return v, nil
}

func (s *Server) webhookRow(c echo.Context, w db.AlertWebhook) (views.WebhookRow, error) {
	row := views.WebhookRow{ID: w.ID, Name: w.Name, MaskedURL: fleet.MaskWebhookURL(w.URL), Format: w.Format, HasSecret: w.Secret != ""}
	for _, e := range w.Events {
		row.EventNames = append(row.EventNames, fleet.AlertEventLabel(e))
	}
	ds, err := s.alerts.Deliveries(c.Request().Context(), w.ID, deliveriesShown)
	if err != nil {
		return row, fmt.Errorf("%w: %v", errDBUnavailable, err)
	}
	for _, d := range ds {
		row.Deliveries = append(row.Deliveries, views.DeliveryRow{Event: fleet.AlertEventLabel(d.Event), Status: d.Status,
			Attempts: d.Attempts, LastError: d.LastError, CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt})
	}
	return row, nil
}

func (s *Server) renderAlerts(c echo.Context, status int, v views.AlertsView) error {
	return render(c, status, views.AlertsPage(s.page(c, "Alerts", views.NavAlerts), v))
}

func newWebhookForm() views.WebhookForm { return views.WebhookForm{Format: fleet.WebhookJSON} }

func editForm(w db.AlertWebhook) views.WebhookForm {
	return views.WebhookForm{ID: w.ID, Name: w.Name, Format: w.Format, Events: w.Events,
		MaskedURL: fleet.MaskWebhookURL(w.URL), HasSecret: w.Secret != ""}
}

// showAlerts is GET /alerts; ?edit={id} puts that destination in the form.
func (s *Server) showAlerts(c echo.Context) error {
	form := newWebhookForm()
	if e := c.QueryParam("edit"); e != "" {
		id, err := strconv.ParseInt(e, 10, 64)
		if err != nil || id < 1 {
			return echo.NewHTTPError(http.StatusNotFound, "No such alert destination.")
		}
		w, err := s.loadWebhook(c, id)
		if err != nil {
			return err
		}
		form = editForm(w)
	}
	v, err := s.alertsView(c, form)
	if err != nil {
		return err
	}
	return s.renderAlerts(c, http.StatusOK, v)
}

func webhookID(c echo.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("wid"), 10, 64)
	if err != nil || id < 1 {
		return 0, echo.NewHTTPError(http.StatusNotFound, "No such alert destination.")
	}
	return id, nil
}

func (s *Server) loadWebhook(c echo.Context, id int64) (db.AlertWebhook, error) {
	w, err := s.alerts.Webhook(c.Request().Context(), id)
	if errors.Is(err, fleet.ErrWebhookNotFound) {
		return w, echo.NewHTTPError(http.StatusNotFound, "No such alert destination: it may have been deleted.")
	}
	if err != nil {
		return w, fmt.Errorf("%w: %v", errDBUnavailable, err)
	}
	return w, nil
}

// webhookInput reads the form. The secret and URL are not trimmed of
// anything but are bounded by the edge's size limit and validated by fleet.
func webhookInput(c echo.Context) fleet.WebhookInput {
	in := fleet.WebhookInput{Name: truncate(c.FormValue("name"), 400), URL: c.FormValue("url"),
		Format: c.FormValue("format"), Secret: c.FormValue("secret")}
	if f, err := c.FormParams(); err == nil {
		in.Events = f["events"]
	}
	return in
}

func (s *Server) createWebhook(c echo.Context) error {
	in := webhookInput(c)
	_, errs, err := s.alerts.Create(c.Request().Context(), s.actor(c), in)
	if err != nil {
		return err
	}
	if errs != nil {
		return s.formAgain(c, views.WebhookForm{Name: in.Name, Format: in.Format, Events: in.Events, Errors: errs})
	}
	s.addFlash(c, views.FlashSuccess, "Destination “"+in.Name+"” added.")
	return redirect(c, "/alerts")
}

// formAgain shows the page with the form and its errors (422); the URL and
// secret typed are not echoed back.
func (s *Server) formAgain(c echo.Context, form views.WebhookForm) error {
	v, err := s.alertsView(c, form)
	if err != nil {
		return err
	}
	return s.renderAlerts(c, http.StatusUnprocessableEntity, v)
}

func (s *Server) updateWebhook(c echo.Context) error {
	id, err := webhookID(c)
	if err != nil {
		return err
	}
	cur, err := s.loadWebhook(c, id)
	if err != nil {
		return err
	}
	in := webhookInput(c)
	errs, err := s.alerts.Update(c.Request().Context(), s.actor(c), id, in)
	if errors.Is(err, fleet.ErrWebhookNotFound) {
		return echo.NewHTTPError(http.StatusNotFound, "No such alert destination: it may have been deleted.")
	}
	if err != nil {
		return err
	}
	if errs != nil {
		f := editForm(cur)
		f.Name, f.Format, f.Events, f.Errors = in.Name, in.Format, in.Events, errs
		return s.formAgain(c, f)
	}
	s.addFlash(c, views.FlashSuccess, "Destination “"+in.Name+"” saved.")
	return redirect(c, "/alerts")
}

// deleteWebhook asks first: without a confirmation token it shows the page
// with the question; with one it claims the token and deletes once.
func (s *Server) deleteWebhook(c echo.Context) error {
	id, err := webhookID(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	token := c.FormValue("token")
	if !validConfirmToken(token) {
		if _, err := s.loadWebhook(c, id); err != nil {
			return err
		}
		v, err := s.alertsView(c, newWebhookForm())
		if err != nil {
			return err
		}
		v.ConfirmDeleteID, v.DeleteToken = id, newConfirmToken()
		return s.renderAlerts(c, http.StatusOK, v)
	}
	if _, err := s.claimConfirm(c, fleet.ActAlertDelete, token); errors.Is(err, db.ErrConfirmUsed) {
		s.addFlash(c, views.FlashInfo, "This destination was already deleted with this confirmation; nothing more was done.")
		return redirect(c, "/alerts")
	} else if err != nil {
		return fmt.Errorf("%w: %v", errDBUnavailable, err)
	}
	err = s.alerts.Delete(ctx, s.actor(c), id)
	switch {
	case errors.Is(err, fleet.ErrWebhookNotFound):
		s.finishConfirm(ctx, fleet.ActAlertDelete, token, nil)
		s.addFlash(c, views.FlashInfo, "That destination was already deleted; nothing more was done.")
		return redirect(c, "/alerts")
	case errors.Is(err, fleet.ErrAuditUnavailable):
		s.releaseConfirm(ctx, fleet.ActAlertDelete, token)
		return err
	case err != nil:
		s.finishConfirm(ctx, fleet.ActAlertDelete, token, nil)
		return err
	}
	s.finishConfirm(ctx, fleet.ActAlertDelete, token, []string{strconv.FormatInt(id, 10)})
	s.addFlash(c, views.FlashSuccess, "Destination deleted, with its delivery log.")
	return redirect(c, "/alerts")
}

// testWebhook sends a test event now and shows the outcome where the
// button is: the destination's log (htmx) and a toast.
func (s *Server) testWebhook(c echo.Context) error {
	id, err := webhookID(c)
	if err != nil {
		return err
	}
	w, err := s.loadWebhook(c, id)
	if err != nil {
		return err
	}
	err = s.alerts.Test(c.Request().Context(), s.actor(c), id)
	var de *fleet.DeliveryError
	flash := views.Flash{Kind: views.FlashSuccess, Text: "Test sent to “" + w.Name + "”: it answered OK."}
	switch {
	case errors.As(err, &de):
		flash = views.Flash{Kind: views.FlashError, Text: "Test to “" + w.Name + "” failed: " + de.Msg}
	case errors.Is(err, fleet.ErrWebhookNotFound):
		return echo.NewHTTPError(http.StatusNotFound, "No such alert destination: it may have been deleted.")
	case err != nil:
		return err
	}
	if !isHTMX(c) {
		s.addFlash(c, flash.Kind, flash.Text)
		return redirect(c, "/alerts")
	}
	row, err := s.webhookRow(c, w)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.WebhookTested(row, []views.Flash{flash}))
}
