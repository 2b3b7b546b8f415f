package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"time"
)

// stats is what the summary reports.
type stats struct {
	flows       [numKinds]int
	ipv6        int
	tcpHellos   int
	quicHellos  int
	quicChaos   int // QUIC hellos whose CRYPTO frames are split and out of order
	requests    int // HTTP/1 requests
	bulkFlows   int
	bulkBytes   int64
	retransmits int
	reorders    int
	packets     int64
	payload     int64
	elapsed     time.Duration
}

func (s *stats) print(w io.Writer, cfg config, size int64) {
	total := 0
	for _, n := range s.flows {
		total += n
	}
	secs := s.elapsed.Seconds()
	fmt.Fprintf(w, "gencapture: wrote %s (%s, seed %d): %d bytes (%.1f MB), %d packets in %.2fs (%.0f MB/s)\n",
		cfg.out, cfg.format, cfg.seed, size, float64(size)/1e6, s.packets, secs, float64(size)/1e6/max(secs, 1e-9))
	fmt.Fprintf(w, "  flows: %d total: tls %d, http1 %d, h2c %d, quic %d (ipv6 %d)\n",
		total, s.flows[kindTLS], s.flows[kindHTTP1], s.flows[kindH2C], s.flows[kindQUIC], s.ipv6)
	fmt.Fprintf(w, "  client hellos: tcp %d, quic %d (%d with split, reordered CRYPTO frames)\n", s.tcpHellos, s.quicHellos, s.quicChaos)
	fmt.Fprintf(w, "  http/1 requests: %d; h2c streams: %d\n", s.requests, s.flows[kindH2C])
	fmt.Fprintf(w, "  bulk transfers: %d, %d bytes (%.0f%% of the file); tcp retransmissions %d, reorderings %d\n",
		s.bulkFlows, s.bulkBytes, 100*float64(s.bulkBytes)/float64(max(size, 1)), s.retransmits, s.reorders)
}

// generator interleaves flows until the file reaches the target size.
type generator struct {
	cfg     config
	corp    *corpus
	voc     vocab
	rng     *rand.Rand
	sink    *sink
	em      *emitter
	stats   *stats
	start   time.Time
	now     time.Time
	active  []*flow
	used    map[netip.AddrPort]bool
	noise   []byte // random bytes: opaque payloads
	records []byte // full-size TLS application-data records, for bulk transfers
	text    []byte // words, for HTTP bodies
	srvMAC  net.HardwareAddr
	gwMACs  []net.HardwareAddr
	bulkMax int
	// pendingBulk is the bulk payload that flows in progress have yet to
	// send: the file will grow by at least that much.
	pendingBulk int64
}

// Shape of the traffic.
const (
	recordBody   = 16384 + 17 // full TLS 1.3 application-data record: plaintext + type + tag
	recordSize   = 5 + recordBody
	bulkMin      = 64 << 10
	bulkWindow   = 32 // segments a bulk step produces at a time
	pIPv6        = 0.10
	pRetransmit  = 0.02
	pReorder     = 0.02
	pQUICChaos   = 0.3
	pGoldenHTTP1 = 0.2
)

func newGenerator(cfg config, corp *corpus, s *sink) *generator {
	rng := rand.New(rand.NewPCG(cfg.seed, 0x6663617074757265)) // "fcapture"
	st := &stats{}
	start := time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC)
	g := &generator{
		cfg:   cfg,
		corp:  corp,
		voc:   newVocab(),
		rng:   rng,
		sink:  s,
		em:    newEmitter(s, start, st),
		stats: st,
		start: start,
		now:   start,
		used:  make(map[netip.AddrPort]bool),
	}
	g.noise = make([]byte, 1<<20)
	for i := 0; i < len(g.noise); i += 8 {
		v := rng.Uint64()
		for j := 0; j < 8; j++ {
			g.noise[i+j] = byte(v >> (8 * j))
		}
	}
	g.records = make([]byte, 0, 64*recordSize)
	for i := 0; i < 64; i++ {
		g.records = append(g.records, 0x17, 0x03, 0x03, byte(recordBody>>8), byte(recordBody&0xff))
		g.records = append(g.records, g.randomBytes(recordBody)...)
	}
	for len(g.text) < 256<<10 {
		g.text = append(g.text, g.voc.words[rng.IntN(len(g.voc.words))]...)
		if rng.IntN(12) == 0 {
			g.text = append(g.text, ".\n"...)
		} else {
			g.text = append(g.text, ' ')
		}
	}
	g.srvMAC = net.HardwareAddr{0x02, 0x42, 0xac, 0x11, 0x00, 0x02}
	g.gwMACs = []net.HardwareAddr{{0x02, 0x00, 0x5e, 0x10, 0x00, 0x01}, {0x02, 0x00, 0x5e, 0x10, 0x00, 0x02}}
	g.bulkMax = int(min(max(cfg.size/50, 512<<10), 16<<20))
	return g
}

// run writes flows until the target size is reached, then finishes the flows
// in progress; it stops starting flows early enough that the bulk transfers
// in progress do not overshoot the target by much.
func (g *generator) run(ctx context.Context) error {
	for len(g.active) < g.cfg.active {
		f, err := g.newFlow()
		if err != nil {
			return err
		}
		g.active = append(g.active, f)
	}
	for n := 0; len(g.active) > 0; n++ {
		if n%8192 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		i := g.rng.IntN(len(g.active))
		f := g.active[i]
		p, ok := f.nextPkt()
		if !ok {
			// Start another flow while the file would otherwise end short of
			// the target, so that it ends a little past it.
			if g.sink.written+g.pendingBulk < g.cfg.size {
				nf, err := g.newFlow()
				if err != nil {
					return err
				}
				g.active[i] = nf
			} else {
				g.active[i] = g.active[len(g.active)-1]
				g.active = g.active[:len(g.active)-1]
			}
			continue
		}
		g.now = g.now.Add(time.Duration(1+g.rng.IntN(250)) * time.Microsecond)
		if err := g.em.emit(f, p, g.now); err != nil {
			return err
		}
	}
	return nil
}

// randomBytes returns n random bytes; they may alias the noise pool and must
// not be written to.
func (g *generator) randomBytes(n int) []byte {
	if n <= len(g.noise) {
		off := g.rng.IntN(len(g.noise) - n + 1)
		return g.noise[off : off+n : off+n]
	}
	b := make([]byte, n)
	for i := 0; i < n; i += copy(b[i:], g.noise) {
	}
	return b
}

// fill overwrites b with fresh random bytes.
func (g *generator) fill(b []byte) {
	for i := range b {
		b[i] = byte(g.rng.Uint32())
	}
}

// appRecords returns TLS application-data records (type 0x17) of opaque
// bytes, about total bytes long in count records.
func (g *generator) appRecords(total, count int) []byte {
	out := make([]byte, 0, total+5*count)
	for i := 0; i < count; i++ {
		n := max(total/count+g.rng.IntN(64)-32, 24)
		out = append(out, 0x17, 0x03, 0x03, byte(n>>8), byte(n))
		out = append(out, g.randomBytes(n)...)
	}
	return out
}

// bulkSize draws a log-uniform transfer size.
func (g *generator) bulkSize() int {
	lo, hi := math.Log(bulkMin), math.Log(float64(g.bulkMax))
	return int(math.Exp(lo + g.rng.Float64()*(hi-lo)))
}

// bulk returns a step that sends total bytes of src (from offset off,
// wrapping) from one side, a window at a time.
func (g *generator) bulk(from side, src []byte, off, total int) func(f *flow) bool {
	g.stats.bulkFlows++
	g.stats.bulkBytes += int64(total)
	g.pendingBulk += int64(total)
	return func(f *flow) bool {
		n := min(total, bulkWindow*f.mss)
		g.pendingBulk -= int64(n)
		var chunk []byte
		if off+n <= len(src) {
			chunk = src[off : off+n : off+n]
		} else {
			chunk = make([]byte, 0, n)
			chunk = append(chunk, src[off:]...)
			chunk = append(chunk, src[:n-len(chunk)]...)
		}
		off = (off + n) % len(src)
		total -= n
		f.send(from, chunk)
		return total == 0
	}
}

// newFlow picks a kind and endpoints and plans the flow's messages.
func (g *generator) newFlow() (*flow, error) {
	var kind flowKind
	switch r := g.rng.Float64(); {
	case r < 0.55:
		kind = kindTLS
	case r < 0.70:
		kind = kindHTTP1
	case r < 0.80:
		kind = kindH2C
	default:
		kind = kindQUIC
	}
	g.stats.flows[kind]++
	f := &flow{
		kind:   kind,
		udp:    kind == kindQUIC,
		rng:    g.rng,
		stats:  g.stats,
		cliMAC: g.gwMACs[g.rng.IntN(len(g.gwMACs))],
		srvMAC: g.srvMAC,
	}
	v6 := g.rng.Float64() < pIPv6
	if v6 {
		g.stats.ipv6++
	}
	port := uint16(443)
	if kind == kindHTTP1 || kind == kindH2C {
		port = 80
		if g.rng.IntN(3) == 0 {
			port = 8080
		}
	}
	f.cli, f.srv = g.endpoints(v6, port)
	f.mss = 1448 // 1500 - 20 (IPv4) - 20 (TCP) - 12 (timestamps option)
	if v6 {
		f.mss = 1428
	}
	f.flowLbl = g.rng.Uint32() & 0xfffff
	f.ipID = [2]uint16{uint16(g.rng.Uint32()), uint16(g.rng.Uint32())}
	f.tsBase = [2]uint32{g.rng.Uint32(), g.rng.Uint32()}
	f.next = [2]uint32{g.rng.Uint32() + 1, g.rng.Uint32() + 1} // ISN+1
	if !f.udp {
		switch r := g.rng.Float64(); {
		case r < pRetransmit:
			f.anomaly = anomalyRetransmit
		case r < pRetransmit+pReorder:
			f.anomaly = anomalyReorder
		}
		f.anomalyN = g.rng.IntN(3)
		f.spareFirst = !g.cfg.helloAnomalies
		f.then(once((*flow).handshake))
	}
	switch kind {
	case kindTLS:
		g.planTLS(f)
	case kindHTTP1:
		g.planHTTP1(f)
	case kindH2C:
		g.planH2C(f)
	case kindQUIC:
		if err := g.planQUIC(f); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// endpoints draws a client address and port not used before, and a server.
func (g *generator) endpoints(v6 bool, port uint16) (cli, srv netip.AddrPort) {
	for {
		var ca, sa netip.Addr
		if v6 {
			c := [16]byte{0x20, 0x01, 0x0d, 0xb8, 0xc0}
			g.fill(c[5:])
			ca = netip.AddrFrom16(c)
			sa = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10 + byte(g.rng.IntN(4))})
		} else {
			// Clients in 198.18.0.0/15, servers in 192.0.2.0/24 (RFC 2544, RFC 5737).
			ca = netip.AddrFrom4([4]byte{198, 18 + byte(g.rng.IntN(2)), byte(g.rng.IntN(256)), 1 + byte(g.rng.IntN(254))})
			sa = netip.AddrFrom4([4]byte{192, 0, 2, 10 + byte(g.rng.IntN(4))})
		}
		cli = netip.AddrPortFrom(ca, uint16(32768+g.rng.IntN(61000-32768)))
		if !g.used[cli] && !decodedPort(cli.Port()) {
			g.used[cli] = true
			return cli, netip.AddrPortFrom(sa, port)
		}
	}
}

// decodedPort reports whether Wireshark 4.0 decodes a port in the Linux
// ephemeral range (32768-60999) as some other protocol (tshark -G decodes),
// for TCP or UDP: such client ports would hide a flow from tshark, whose
// counts are the oracle for the files, so the generator does not use them.
func decodedPort(p uint16) bool {
	switch p {
	case 34962, 34980, 37008, 41170, 44321, 44322, 44818, 45564, 47000, 47808,
		48049, 48898, 49999, 54328, 56000, 56001, 56500, 56501, 57000, 57001,
		57032, 57033, 57500, 57501, 57532, 57533, 59000, 59001, 59032, 59033,
		59500, 59501, 59532, 59533, 60001:
		return true
	}
	return false
}

// cuts draws up to n-1 distinct, ascending cut points inside a message of
// size bytes.
func (g *generator) cuts(size, n int) []int {
	var c []int
	for i := 1; i < n && size > 1; i++ {
		c = append(c, 1+g.rng.IntN(size-1))
	}
	slices.Sort(c)
	return slices.Compact(c)
}

// planTLS: a golden ClientHello with a fresh random over 1 to 3 segments,
// opaque server records, client records, a response or a bulk transfer,
// maybe a second exchange, and a FIN close.
func (g *generator) planTLS(f *flow) {
	h := g.corp.hellos[g.rng.IntN(len(g.corp.hellos))]
	rec := append([]byte(nil), h.records...)
	g.fill(rec[recordRandomOffset : recordRandomOffset+randomLen])
	// A 32-byte legacy_session_id (TLS 1.3 middlebox compatibility) is random too.
	if sid := recordRandomOffset + randomLen; rec[sid] == 32 && len(rec) > sid+1+32 {
		g.fill(rec[sid+1 : sid+1+32])
	}
	cuts := g.cuts(len(rec), 1+g.rng.IntN(3))
	g.stats.tcpHellos++
	f.then(once(func(f *flow) { f.send(client, rec, cuts...) }))
	f.then(once(func(f *flow) {
		f.send(server, g.appRecords(2000+g.rng.IntN(6000), 1+g.rng.IntN(3)))
	}))
	exchanges := 1 + g.rng.IntN(2)
	bulk := g.rng.Float64() < g.cfg.bulk
	for i := 0; i < exchanges; i++ {
		f.then(once(func(f *flow) { f.send(client, g.appRecords(40+g.rng.IntN(1400), 1+g.rng.IntN(3))) }))
		if bulk && i == exchanges-1 {
			n := max(g.bulkSize()/recordSize, 1)
			f.then(g.bulk(server, g.records, recordSize*g.rng.IntN(len(g.records)/recordSize), n*recordSize))
			continue
		}
		f.then(once(func(f *flow) { f.send(server, g.appRecords(300+g.rng.IntN(6000), 1+g.rng.IntN(4))) }))
	}
	from := side(g.rng.IntN(2))
	f.then(once(func(f *flow) { f.close(from) }))
}

// planH2C: the golden client stream up to its first request, opaque server
// frames, the rest of the client stream, and a close.
func (g *generator) planH2C(f *flow) {
	st := g.corp.http2[g.rng.IntN(len(g.corp.http2))]
	// Clients write the preface, SETTINGS and the first HEADERS at once (and
	// tshark 4.0 does not reassemble an h2c frame cut after the preface).
	f.then(once(func(f *flow) { f.send(client, st.first) }))
	f.then(once(func(f *flow) {
		var b []byte
		// SETTINGS (MAX_CONCURRENT_STREAMS 100, INITIAL_WINDOW_SIZE 1 MiB), SETTINGS ACK.
		b = append(b, 0, 0, 12, 0x4, 0, 0, 0, 0, 0, 0, 0x3, 0, 0, 0, 100, 0, 0x4, 0, 0x10, 0, 0)
		b = append(b, 0, 0, 0, 0x4, 0x1, 0, 0, 0, 0)
		// Opaque frames on stream 1: the payloads are random bytes.
		for n := 1 + g.rng.IntN(4); n > 0; n-- {
			size := 200 + g.rng.IntN(4000)
			flags := byte(0)
			if n == 1 {
				flags = 0x1 // END_STREAM
			}
			b = append(b, byte(size>>16), byte(size>>8), byte(size), 0x0, flags, 0, 0, 0, 1)
			b = append(b, g.randomBytes(size)...)
		}
		f.send(server, b)
	}))
	if len(st.rest) > 0 {
		f.then(once(func(f *flow) { f.send(client, st.rest) }))
	}
	from := side(g.rng.IntN(2))
	f.then(once(func(f *flow) { f.close(from) }))
}

// planHTTP1: 1 to 3 request/response exchanges on a keep-alive connection;
// with a bulk transfer, the last response is a large download.
func (g *generator) planHTTP1(f *flow) {
	n := 1 + g.rng.IntN(3)
	bulk := g.rng.Float64() < g.cfg.bulk
	host := g.voc.hosts[g.rng.IntN(len(g.voc.hosts))]
	ua := g.rng.IntN(len(g.voc.agents))
	for i := 0; i < n; i++ {
		var req []byte
		method := "GET"
		if g.rng.Float64() < pGoldenHTTP1 && len(g.corp.http1) > 0 {
			req = g.corp.http1[g.rng.IntN(len(g.corp.http1))]
		} else {
			var path string
			method, path = g.requestLine()
			if bulk && i == n-1 {
				method, path = "GET", fmt.Sprintf("/downloads/%s-%d.tar.gz", g.voc.words[g.rng.IntN(len(g.voc.words))], g.rng.IntN(1000))
			}
			req = g.requestHead(method, path, host, ua)
		}
		g.stats.requests++
		f.then(once(func(f *flow) { f.send(client, req, g.cuts(len(req), 1+g.rng.IntN(2))...) }))
		if bulk && i == n-1 {
			size := g.bulkSize()
			head := g.responseHead(200, "application/octet-stream", size)
			f.then(once(func(f *flow) { f.send(server, head) }))
			f.then(g.bulk(server, g.noise, g.rng.IntN(len(g.noise)), size))
			continue
		}
		f.then(once(func(f *flow) { f.send(server, g.response(method)) }))
	}
	from := side(g.rng.IntN(2))
	f.then(once(func(f *flow) { f.close(from) }))
}
