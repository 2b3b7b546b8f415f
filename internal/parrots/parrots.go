// Package parrots lists the uTLS parrots the tests and scripts run: every
// concrete ClientHelloID uTLS v1.8.2 exports, with the stem of its golden
// capture. Left out: the randomized and custom IDs (no fixed hello) and the
// *_Auto aliases, copies of a concrete ID listed here.
package parrots

import (
	"context"
	"fmt"
	"net"
	"strings"

	utls "github.com/refraction-networking/utls"
)

// Parrot is one concrete uTLS ClientHelloID.
type Parrot struct {
	Name string // the Go name, e.g. HelloChrome_106_Shuffle
	ID   utls.ClientHelloID
}

// Stem is the name of the parrot's golden capture: HelloChrome_106_Shuffle
// gives utls-chrome-106-shuffle.
func (p Parrot) Stem() string {
	return "utls-" + strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(p.Name, "Hello")), "_", "-")
}

// All lists the parrots.
func All() []Parrot {
	return []Parrot{
		{"HelloGolang", utls.HelloGolang},
		{"HelloFirefox_55", utls.HelloFirefox_55},
		{"HelloFirefox_56", utls.HelloFirefox_56},
		{"HelloFirefox_63", utls.HelloFirefox_63},
		{"HelloFirefox_65", utls.HelloFirefox_65},
		{"HelloFirefox_99", utls.HelloFirefox_99},
		{"HelloFirefox_102", utls.HelloFirefox_102},
		{"HelloFirefox_105", utls.HelloFirefox_105},
		{"HelloFirefox_120", utls.HelloFirefox_120},
		{"HelloChrome_58", utls.HelloChrome_58},
		{"HelloChrome_62", utls.HelloChrome_62},
		{"HelloChrome_70", utls.HelloChrome_70},
		{"HelloChrome_72", utls.HelloChrome_72},
		{"HelloChrome_83", utls.HelloChrome_83},
		{"HelloChrome_87", utls.HelloChrome_87},
		{"HelloChrome_96", utls.HelloChrome_96},
		{"HelloChrome_100", utls.HelloChrome_100},
		{"HelloChrome_102", utls.HelloChrome_102},
		{"HelloChrome_106_Shuffle", utls.HelloChrome_106_Shuffle},
		{"HelloChrome_100_PSK", utls.HelloChrome_100_PSK},
		{"HelloChrome_112_PSK_Shuf", utls.HelloChrome_112_PSK_Shuf},
		{"HelloChrome_114_Padding_PSK_Shuf", utls.HelloChrome_114_Padding_PSK_Shuf},
		{"HelloChrome_115_PQ", utls.HelloChrome_115_PQ},
		{"HelloChrome_115_PQ_PSK", utls.HelloChrome_115_PQ_PSK},
		{"HelloChrome_120", utls.HelloChrome_120},
		{"HelloChrome_120_PQ", utls.HelloChrome_120_PQ},
		{"HelloChrome_131", utls.HelloChrome_131},
		{"HelloChrome_133", utls.HelloChrome_133},
		{"HelloIOS_11_1", utls.HelloIOS_11_1},
		{"HelloIOS_12_1", utls.HelloIOS_12_1},
		{"HelloIOS_13", utls.HelloIOS_13},
		{"HelloIOS_14", utls.HelloIOS_14},
		{"HelloAndroid_11_OkHttp", utls.HelloAndroid_11_OkHttp},
		{"HelloEdge_85", utls.HelloEdge_85},
		{"HelloEdge_106", utls.HelloEdge_106},
		{"HelloSafari_16_0", utls.HelloSafari_16_0},
		{"Hello360_7_5", utls.Hello360_7_5},
		{"Hello360_11_0", utls.Hello360_11_0},
		{"HelloQQ_11_1", utls.HelloQQ_11_1},
	}
}

// Handshake dials addr over TCP and runs a uTLS handshake with parrot id's
// hello, within ctx's deadline (which also bounds the connection's later
// reads and writes). The caller closes the connection.
func Handshake(ctx context.Context, addr string, cfg *utls.Config, id utls.ClientHelloID) (*utls.UConn, error) {
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		raw.SetDeadline(dl)
	}
	uc := utls.UClient(raw, cfg, id)
	if err := uc.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, fmt.Errorf("handshake: %w", err)
	}
	return uc, nil
}
