package storage

import (
	"context"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestPostgresStoresNoSecret: a visit whose requests carried cookies (the
// fleet cookie among them), Authorization, Proxy-Authorization,
// X-Forwarded-For, Forwarded and X-Real-IP is written to PostgreSQL;
// then every row of every table of the schema, read back as text, holds
// none of those values.
func TestPostgresStoresNoSecret(t *testing.T) {
	p := openPostgres(t)
	ctx := context.Background()
	f := &fixtures{t: t, data: loadContractData(t), random: rand.NewChaCha8(seedOf(t.Name()))}
	b := f.visit(visitSpec{golden: "chromium-156-linux", ua: uaChromeLinux, start: base(), fleet: true})
	if err := p.Write(ctx, b); err != nil {
		t.Fatal(err)
	}
	rows, err := p.pool.Query(ctx, `SELECT table_name FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, name)
	}
	rows.Close()
	if len(tables) < 5 {
		t.Fatalf("tables %v", tables)
	}
	var dump strings.Builder
	for _, table := range tables {
		// Every column as text; bytea as hex and as its bytes read as text.
		r, err := p.pool.Query(ctx, `SELECT t::text FROM `+quoteIdent(table)+` t`)
		if err != nil {
			t.Fatal(err)
		}
		for r.Next() {
			var line string
			if err := r.Scan(&line); err != nil {
				t.Fatal(err)
			}
			dump.WriteString(line + "\n")
		}
		r.Close()
	}
	text := dump.String()
	if !strings.Contains(text, "fp_fleet=") || !strings.Contains(text, "authorization") {
		t.Fatalf("the dump does not hold the redacted headers' names:\n%.2000s", text)
	}
	for _, secret := range secretValues() {
		for _, form := range []string{secret, hexOf(secret)} {
			if strings.Contains(text, form) {
				t.Errorf("the database holds %q", secret)
			}
		}
	}
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func hexOf(s string) string {
	const digits = "0123456789abcdef"
	b := make([]byte, 0, 2*len(s))
	for i := 0; i < len(s); i++ {
		b = append(b, digits[s[i]>>4], digits[s[i]&15])
	}
	return string(b)
}
