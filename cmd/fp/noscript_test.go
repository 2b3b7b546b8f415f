package main

import (
	"context"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/fpwork/fp/internal/chromiumtest"
	"github.com/fpwork/fp/internal/pgtest"
	"github.com/fpwork/fp/storage"
)

// TestNoScriptVisitInChromium: with JavaScript off, the site still works,
// less live: consent, the report of the navigation, both forms (which
// bring the visitor back to the report), and the stored visit holds
// those; the script's contexts are missing and the page says why.
func TestNoScriptVisitInChromium(t *testing.T) {
	dsn := pgtest.Schema(t, pgtest.Start(t))
	addrs := runSite(t, dsn)
	browser := chromiumtest.Start(t)
	if _, err := chromedp.Call(browser, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
		t.Fatal(err)
	}
	base := "https://127.0.0.1:" + portOf(t, addrs.https)
	navigate(t, browser, base+"/", "/")
	if err := click(browser, "consent-store", "/report", ""); err != nil {
		t.Fatal(err)
	}
	seen := func(id string) string {
		t.Helper()
		attrs, err := chromedp.Run(browser, chromedp.Attributes(chromedp.ID(id)))
		if err != nil {
			t.Fatalf("#%s: %v", id, err)
		}
		return attrs["data-seen"]
	}
	report, err := chromedp.Run(browser, chromedp.Attributes(chromedp.ID("report")))
	if err != nil {
		t.Fatal(err)
	}
	id := report["data-visit"]
	if report["data-consent"] != "yes" || seen("ctx-navigate") != "true" || seen("ctx-fetch") != "false" {
		t.Fatalf("report without script: %v, navigate %s, fetch %s", report, seen("ctx-navigate"), seen("ctx-fetch"))
	}
	if err := click(browser, "form-post-submit", "/report", "visit="+id); err != nil {
		t.Fatal(err)
	}
	if err := click(browser, "form-get-submit", "/report", "visit="+id); err != nil {
		t.Fatal(err)
	}
	if seen("ctx-form-post") != "true" || seen("ctx-form-get") != "true" || seen("ctx-xhr") != "false" {
		t.Fatalf("after both forms: form-post %s, form-get %s, xhr %s", seen("ctx-form-post"), seen("ctx-form-get"), seen("ctx-xhr"))
	}
	store, err := storage.NewPostgres(context.Background(), dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	rec := waitObservations(t, store, storage.VisitID(id), 3)
	kinds := map[storage.RequestKind]int{}
	for _, o := range rec.Observations {
		kinds[o.Kind]++
	}
	if kinds[storage.KindForm] != 2 || kinds[storage.KindNavigate] < 1 || kinds[storage.KindFetch] != 0 {
		t.Fatalf("stored kinds %v, want the navigation and both forms", kinds)
	}
}
