package analyze

import (
	"container/list"
	"net/netip"
	"time"

	"github.com/fpwork/fp/fingerprint"
)

// flowKey names a conversation independently of direction: a is the
// lower endpoint.
type flowKey struct{ a, b netip.AddrPort }

func keyOf(src, dst netip.AddrPort) (flowKey, int) {
	if lessAddrPort(src, dst) {
		return flowKey{src, dst}, 0
	}
	return flowKey{dst, src}, 1
}

func lessAddrPort(x, y netip.AddrPort) bool {
	if c := x.Addr().Compare(y.Addr()); c != 0 {
		return c < 0
	}
	return x.Port() < y.Port()
}

// tcpFlow is one TCP conversation. dirs[0] carries a→b, dirs[1] b→a.
type tcpFlow struct {
	key       flowKey
	stream    int
	dirs      [2]halfStream
	clientDir int // -1 until known
	client    *clientStream
	done      bool // nothing more to fingerprint on this flow
	closed    bool
	lastSeen  time.Time
	lru       *list.Element
}

// halfStream follows the sequence numbers of one direction and holds
// out-of-order segments until the gap before them is filled.
type halfStream struct {
	started bool
	next    uint32 // next expected sequence number
	fin     bool
	pending []segment
	// notClient is set once this direction's first bytes did not look
	// like a client's.
	notClient bool
}

type segment struct {
	seq  uint32
	data []byte // owned copy
	time time.Time
}

// seqDiff returns a-b in sequence space (RFC 1982 style).
func seqDiff(a, b uint32) int32 { return int32(a - b) }

// tracker numbers conversations the way tshark's tcp.stream does (in
// order of first packet; a new SYN after the old conversation closed
// starts a new one), reassembles the client direction and hands it to a
// clientStream.
type tracker struct {
	file     string
	c        *Capture
	emit     func(Record) error
	st       *CaptureStats
	flows    map[flowKey]*tcpFlow
	lru      *list.List // front = most recently seen
	streams  int
	udp      map[flowKey]*udpFlow
	buffered int // client bytes held across all flows
	keys     *KeyLog
}

// udpFlow is one UDP conversation; quic is set once a client Initial was
// read on it.
type udpFlow struct {
	stream int
	quic   *quicFlow
	done   bool
}

// quicFlow reassembles a QUIC client's CRYPTO stream from its Initials.
type quicFlow struct {
	client, server netip.AddrPort
	crypto         *fingerprint.QUICCryptoStream
	firstTime      time.Time // of the packet carrying CRYPTO offset 0
	hellos         int
	keyDCIDs       [][]byte // connection IDs whose Initial keys worked
}

// maxBufferedTotal caps the client bytes held across all flows.
const maxBufferedTotal = 256 << 20

func newTracker(file string, c *Capture, keys *KeyLog, emit func(Record) error, st *CaptureStats) *tracker {
	return &tracker{file: file, c: c, keys: keys, emit: emit, st: st,
		flows: make(map[flowKey]*tcpFlow), lru: list.New(), udp: make(map[flowKey]*udpFlow)}
}

func (t *tracker) packet(p decodedPacket) error {
	if !p.tcp {
		return t.udpPacket(p)
	}
	key, dir := keyOf(p.src, p.dst)
	f := t.flows[key]
	if f != nil && p.syn && !p.ack && (f.closed || (f.dirs[dir].started && f.dirs[dir].next != p.seq+1)) {
		// A new connection on the same addresses: a new stream.
		t.drop(f)
		f = nil
	}
	if f == nil {
		f = t.newFlow(key)
	}
	f.lastSeen = p.time
	t.lru.MoveToFront(f.lru)
	if p.rst || (p.fin && f.dirs[1-dir].fin) {
		f.closed = true
	}
	if p.syn {
		h := &f.dirs[dir]
		h.started, h.next = true, p.seq+1
		if !p.ack {
			f.clientDir = dir
		}
		return nil
	}
	if p.fin {
		f.dirs[dir].fin = true
	}
	if f.done || len(p.payload) == 0 {
		return nil
	}
	return t.data(f, dir, p)
}

func (t *tracker) newFlow(key flowKey) *tcpFlow {
	for len(t.flows) >= t.c.Limits.MaxFlows {
		oldest := t.lru.Back().Value.(*tcpFlow)
		t.drop(oldest)
		t.st.Evicted++
	}
	f := &tcpFlow{key: key, stream: t.streams, clientDir: -1}
	t.streams++
	t.st.TCPFlows++
	f.lru = t.lru.PushFront(f)
	t.flows[key] = f
	return f
}

func (t *tracker) drop(f *tcpFlow) {
	t.finish(f)
	t.lru.Remove(f.lru)
	delete(t.flows, f.key)
}

// finish releases what the flow holds.
func (t *tracker) finish(f *tcpFlow) {
	if f.client != nil {
		t.buffered -= f.client.held()
		f.client = nil
	}
	for i := range f.dirs {
		for _, s := range f.dirs[i].pending {
			t.buffered -= len(s.data)
		}
		f.dirs[i].pending = nil
	}
	f.done = true
}

// data handles a segment with payload in direction dir.
func (t *tracker) data(f *tcpFlow, dir int, p decodedPacket) error {
	h := &f.dirs[dir]
	if f.clientDir >= 0 && dir != f.clientDir && (f.client == nil || !f.client.wantsServer()) {
		return nil // the server's bytes are not needed
	}
	if h.notClient {
		return nil
	}
	if !h.started {
		// Picked up mid-stream: start at this segment.
		h.started, h.next = true, p.seq
	}
	d := seqDiff(p.seq, h.next)
	payload := p.payload
	switch {
	case d < 0:
		// Retransmission or overlap: keep only the new tail.
		if int(-d) >= len(payload) {
			return nil
		}
		payload = payload[-d:]
	case d > 0:
		if len(h.pending) >= t.c.Limits.MaxPendingSegs || t.buffered+len(payload) > maxBufferedTotal {
			t.finish(f) // a gap we cannot hold: give the flow up
			return nil
		}
		t.hold(h, segment{seq: p.seq, data: append([]byte(nil), payload...), time: p.time})
		return nil
	}
	if err := t.deliver(f, dir, payload, p.time); err != nil || f.done {
		return err
	}
	// Segments that the new bytes made contiguous.
	for len(h.pending) > 0 && !f.done {
		s := h.pending[0]
		d := seqDiff(s.seq, h.next)
		if d > 0 {
			break
		}
		h.pending = h.pending[1:]
		t.buffered -= len(s.data)
		if int(-d) < len(s.data) {
			if err := t.deliver(f, dir, s.data[-d:], s.time); err != nil {
				return err
			}
		}
	}
	return nil
}

// hold inserts s in seq order.
func (t *tracker) hold(h *halfStream, s segment) {
	i := len(h.pending)
	for i > 0 && seqDiff(h.pending[i-1].seq, s.seq) > 0 {
		i--
	}
	h.pending = append(h.pending, segment{})
	copy(h.pending[i+1:], h.pending[i:])
	h.pending[i] = s
	t.buffered += len(s.data)
}

// deliver passes in-order bytes of direction dir to the flow's consumer.
func (t *tracker) deliver(f *tcpFlow, dir int, b []byte, at time.Time) error {
	h := &f.dirs[dir]
	h.next += uint32(len(b))
	if f.client != nil && dir != f.clientDir {
		recs, done := f.client.feedServer(b, t.c.Limits.MaxStreamBytes)
		return t.emitFlow(f, recs, done)
	}
	if f.client == nil {
		// The SYN's sender is the client whatever it sends first (a SOCKS
		// request, plaintext before a hello); otherwise the bytes decide.
		if f.clientDir != dir && !looksLikeClient(b) {
			h.notClient = true
			if f.clientDir == dir || f.dirs[1-dir].notClient {
				t.finish(f)
			}
			return nil
		}
		f.clientDir = dir
		f.client = newClientStream(t.c.Raw, t.keys)
	}
	before := f.client.held()
	recs, done := f.client.feed(b, at, t.c.Limits.MaxStreamBytes)
	t.buffered += f.client.held() - before
	return t.emitFlow(f, recs, done)
}

// emitFlow sends a flow's records and releases the flow when done.
func (t *tracker) emitFlow(f *tcpFlow, recs []Record, done bool) error {
	for _, r := range recs {
		r.File = t.file
		src, dst := f.key.a, f.key.b
		if f.clientDir == 1 {
			src, dst = dst, src
		}
		r.Src, r.Dst, r.Transport = src.String(), dst.String(), "tcp"
		stream := f.stream
		r.Stream = &stream
		if err := t.emit(r); err != nil {
			return err
		}
	}
	if done || t.buffered > maxBufferedTotal {
		t.finish(f)
	}
	return nil
}

// udpPacket numbers UDP conversations as tshark's udp.stream does and
// reads QUIC client Initials.
func (t *tracker) udpPacket(p decodedPacket) error {
	key, _ := keyOf(p.src, p.dst)
	f := t.udp[key]
	if f == nil {
		f = &udpFlow{stream: int(t.st.UDPFlows)}
		t.st.UDPFlows++
		if len(t.udp) < t.c.Limits.MaxFlows {
			t.udp[key] = f
		}
	}
	if f.done || len(p.payload) < 7 || p.payload[0]&0x80 == 0 {
		return nil
	}
	if f.quic != nil && p.src != f.quic.client {
		return nil // the server's packets
	}
	var keys [][]byte
	if f.quic != nil {
		keys = f.quic.keyDCIDs
	}
	initials, err := fingerprint.ParseQUICInitials(p.payload, keys...)
	if err != nil {
		return nil // not a client Initial (a server's, or not QUIC)
	}
	if f.quic == nil {
		f.quic = &quicFlow{client: p.src, server: p.dst, crypto: fingerprint.NewQUICCryptoStream(t.c.Limits.MaxStreamBytes)}
	}
	q := f.quic
	for _, ini := range initials {
		if !containsBytes(q.keyDCIDs, ini.KeyDCID) && len(q.keyDCIDs) < 4 {
			q.keyDCIDs = append(q.keyDCIDs, append([]byte(nil), ini.KeyDCID...))
		}
		for _, c := range ini.Crypto {
			if c.Offset == 0 && q.firstTime.IsZero() {
				q.firstTime = p.time
			}
			if err := q.crypto.Add(c); err != nil {
				f.done, f.quic = true, nil
				return nil
			}
		}
	}
	raw := q.crypto.ClientHello()
	if raw == nil {
		return nil
	}
	ch, err := fingerprint.ParseClientHello(raw)
	f.done, f.quic = true, nil
	if err != nil {
		return nil
	}
	q.hellos++
	r := tlsRecord(t.file, q.hellos, ch, fingerprint.TransportQUIC)
	r.Src, r.Dst, r.Transport = q.client.String(), q.server.String(), "udp"
	stream := f.stream
	r.Stream, r.Time = &stream, q.firstTime.UTC().Format(timeLayout)
	return t.emit(r)
}

func containsBytes(list [][]byte, b []byte) bool {
	for _, x := range list {
		if string(x) == string(b) {
			return true
		}
	}
	return false
}
