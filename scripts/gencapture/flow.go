package main

import (
	"math/rand/v2"
	"net"
	"net/netip"
)

// side is the sender of a packet.
type side uint8

const (
	client side = iota
	server
)

func (s side) peer() side { return 1 - s }

// TCP flags as in the header.
const (
	flagFIN = 0x01
	flagSYN = 0x02
	flagRST = 0x04
	flagPSH = 0x08
	flagACK = 0x10
)

// pkt is one packet of a flow before serialization. Payload may alias shared
// pools; it is never written to.
type pkt struct {
	from     side
	flags    uint8
	seq, ack uint32
	payload  []byte
}

type flowKind int

const (
	kindTLS flowKind = iota
	kindHTTP1
	kindH2C
	kindQUIC
	numKinds
)

func (k flowKind) String() string {
	switch k {
	case kindTLS:
		return "tls"
	case kindHTTP1:
		return "http1"
	case kindH2C:
		return "h2c"
	case kindQUIC:
		return "quic"
	}
	return "unknown"
}

// anomaly is what a TCP connection does wrong once.
type anomaly int

const (
	anomalyNone anomaly = iota
	anomalyRetransmit
	anomalyReorder
)

// flow is one connection: a queue of packets ready to go out and the steps
// that produce more (a bulk transfer produces its segments a window at a
// time, so a flow never holds megabytes).
type flow struct {
	kind     flowKind
	udp      bool
	cli, srv netip.AddrPort
	cliMAC   net.HardwareAddr
	srvMAC   net.HardwareAddr
	rng      *rand.Rand
	queue    []pkt
	head     int
	steps    []func(f *flow) (done bool)

	// Header state per direction, and the TCP connection's.
	mss      int
	next     [2]uint32 // next sequence number each side sends
	ipID     [2]uint16
	tsBase   [2]uint32
	lastTS   [2]uint32
	flowLbl  uint32
	anomaly  anomaly
	anomalyN int // apply the anomaly at the first eligible message from this index on
	// spareFirst keeps the anomaly off message 0, the client's first (the
	// ClientHello, the first HTTP/1 request, the h2c preface).
	spareFirst bool
	msgs       int
	stats      *stats
}

// nextPkt returns the flow's next packet; ok is false once the flow is over.
func (f *flow) nextPkt() (p *pkt, ok bool) {
	for f.head == len(f.queue) {
		if len(f.steps) == 0 {
			return nil, false
		}
		f.queue, f.head = f.queue[:0], 0
		if f.steps[0](f) {
			f.steps = f.steps[1:]
		}
	}
	p = &f.queue[f.head]
	f.head++
	return p, true
}

func (f *flow) then(step func(f *flow) bool) { f.steps = append(f.steps, step) }

// once wraps a step that produces all its packets in one call.
func once(fn func(f *flow)) func(f *flow) bool {
	return func(f *flow) bool { fn(f); return true }
}

func (f *flow) push(p pkt) { f.queue = append(f.queue, p) }

// handshake queues SYN, SYN-ACK, ACK.
func (f *flow) handshake() {
	f.push(pkt{from: client, flags: flagSYN, seq: f.next[client] - 1})
	f.push(pkt{from: server, flags: flagSYN | flagACK, seq: f.next[server] - 1, ack: f.next[client]})
	f.push(pkt{from: client, flags: flagACK, seq: f.next[client], ack: f.next[server]})
}

// close queues the FIN exchange, started by from.
func (f *flow) close(from side) {
	to := from.peer()
	f.push(pkt{from: from, flags: flagFIN | flagACK, seq: f.next[from], ack: f.next[to]})
	f.next[from]++
	f.push(pkt{from: to, flags: flagFIN | flagACK, seq: f.next[to], ack: f.next[from]})
	f.next[to]++
	f.push(pkt{from: from, flags: flagACK, seq: f.next[from], ack: f.next[to]})
}

// send queues data from one side as segments of at most mss bytes, also cut
// at the offsets in cuts (ascending, inside data), followed by the
// receiver's ACKs (one every two segments, and one at the end). It may apply
// the flow's anomaly to these segments.
func (f *flow) send(from side, data []byte, cuts ...int) {
	to := from.peer()
	segs := make([]pkt, 0, len(data)/f.mss+len(cuts)+1)
	start := 0
	cut := func(end int) {
		for start < end {
			n := min(end-start, f.mss)
			segs = append(segs, pkt{from: from, flags: flagACK, seq: f.next[from] + uint32(start), ack: f.next[to], payload: data[start : start+n]})
			start += n
		}
	}
	for _, c := range cuts {
		cut(c)
	}
	cut(len(data))
	if len(segs) == 0 {
		return
	}
	segs[len(segs)-1].flags |= flagPSH
	rcv := f.next[from] // what the receiver expects next
	f.next[from] += uint32(len(data))
	segs = f.misbehave(segs)

	// The receiver acknowledges what it has in order; a segment that arrives
	// early or twice draws a duplicate ACK.
	var early []pkt
	unacked := 0
	for i, s := range segs {
		f.push(s)
		end := s.seq + uint32(len(s.payload))
		immediate := false
		switch {
		case int32(s.seq-rcv) > 0: // early: a hole before it
			early = append(early, s)
			immediate = true
		case int32(end-rcv) > 0: // in order; it may fill a hole
			rcv = end
			for j := 0; j < len(early); {
				e := early[j]
				if int32(e.seq-rcv) > 0 {
					j++
					continue
				}
				if eend := e.seq + uint32(len(e.payload)); int32(eend-rcv) > 0 {
					rcv = eend
				}
				early = append(early[:j], early[j+1:]...)
				immediate = true
				j = 0
			}
		default: // a duplicate
			immediate = true
		}
		unacked++
		if unacked == 2 || immediate || i == len(segs)-1 {
			f.push(pkt{from: to, flags: flagACK, seq: f.next[to], ack: rcv})
			unacked = 0
		}
	}
	f.msgs++
}

// misbehave applies the flow's anomaly to the first eligible message.
func (f *flow) misbehave(segs []pkt) []pkt {
	if f.anomaly == anomalyNone || f.msgs < f.anomalyN || f.msgs == 0 && f.spareFirst {
		return segs
	}
	switch f.anomaly {
	case anomalyReorder:
		if len(segs) < 2 {
			return segs
		}
		i := f.rng.IntN(len(segs) - 1)
		segs[i], segs[i+1] = segs[i+1], segs[i]
		f.stats.reorders++
	case anomalyRetransmit:
		i := f.rng.IntN(len(segs))
		at := min(i+1+f.rng.IntN(3), len(segs))
		dup := segs[i]
		segs = append(segs, pkt{})
		copy(segs[at+1:], segs[at:])
		segs[at] = dup
		f.stats.retransmits++
	}
	f.anomaly = anomalyNone
	return segs
}
