package fingerprint

import (
	"os/exec"
	"strings"
	"testing"
)

// TestPackageStaysPure enforces the architecture rule: fingerprint imports
// none of the project's packages, no networking and no storage or routing
// library.
func TestPackageStaysPure(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list -deps gave %d packages: %q", len(deps), out)
	}
	const self = "github.com/fpwork/fp/"
	for _, d := range deps {
		switch {
		case d == "net", strings.HasPrefix(d, "net/"),
			strings.HasPrefix(d, "github.com/jackc/"), strings.HasPrefix(d, "github.com/go-chi/"),
			strings.HasPrefix(d, "database/"), d == "log", d == "log/slog",
			strings.HasPrefix(d, self) && d != self+"fingerprint":
			t.Errorf("fingerprint depends on %s", d)
		}
	}
}
