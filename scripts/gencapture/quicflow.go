package main

import (
	"encoding/binary"
)

// planQUIC: a QUIC v1 connection attempt as seen on the wire. The client's
// Initial packets carry a Chrome-like ClientHello in CRYPTO frames, protected
// with the Initial keys of RFC 9001 section 5 and padded to 1200-byte
// datagrams; the server answers with an ACK-only Initial coalesced with
// opaque Handshake packets; then opaque 1-RTT (short header) packets flow.
// Only what a passive observer can decrypt (the Initials) is real.
func (g *generator) planQUIC(f *flow) error {
	q := g.corp.quicHellos[g.rng.IntN(len(g.corp.quicHellos))]
	hello := append([]byte(nil), q.msg...)
	g.fill(hello[handshakeRandomOff : handshakeRandomOff+randomLen])
	dcid := make([]byte, 8)
	g.fill(dcid)
	srvCID := make([]byte, 8)
	g.fill(srvCID)
	ck, err := newInitialKeys(dcid, "client in")
	if err != nil {
		return err
	}
	sk, err := newInitialKeys(dcid, "server in")
	if err != nil {
		return err
	}
	chaos := g.rng.Float64() < pQUICChaos
	initials, err := g.clientInitials(ck, dcid, hello, chaos)
	if err != nil {
		return err
	}
	g.stats.quicHellos++
	if chaos {
		g.stats.quicChaos++
	}
	for _, d := range initials {
		f.then(once(func(f *flow) { f.push(pkt{from: client, payload: d}) }))
	}
	lastClientPN := uint64(len(initials) - 1)

	// Server: an ACK-only Initial coalesced with a Handshake packet, then
	// more Handshake packets (the certificate chain).
	var frames []byte
	frames = ackFrame(frames, lastClientPN, uint64(g.rng.IntN(40)))
	frames = append(frames, make([]byte, 60)...) // PADDING
	hdr, pnOff := initialHeader(nil, srvCID, 0, len(frames))
	sInit, err := sk.protect(hdr, pnOff, 0, frames)
	if err != nil {
		return err
	}
	first := append(sInit, g.longHeaderOpaque(0x2, nil, srvCID, 1200-len(sInit))...)
	f.then(once(func(f *flow) { f.push(pkt{from: server, payload: first}) }))
	for n := 1 + g.rng.IntN(3); n > 0; n-- {
		size := 1200
		if n == 1 {
			size = 200 + g.rng.IntN(1000)
		}
		d := g.longHeaderOpaque(0x2, nil, srvCID, size)
		f.then(once(func(f *flow) { f.push(pkt{from: server, payload: d}) }))
	}

	// Client: an Initial acknowledging the server's, coalesced with its
	// Handshake packet (Finished), padded to 1200 bytes.
	hs := g.longHeaderOpaque(0x2, srvCID, nil, 60+g.rng.IntN(30))
	frames = ackFrame(nil, 0, uint64(g.rng.IntN(40)))
	pad := quicMinInitial - len(hs) - initialHeaderLen(srvCID, nil) - quicTagLen - len(frames)
	frames = append(frames, make([]byte, max(pad, 0))...)
	cpn := uint32(len(initials))
	hdr, pnOff = initialHeader(srvCID, nil, cpn, len(frames))
	cAck, err := ck.protect(hdr, pnOff, cpn, frames)
	if err != nil {
		return err
	}
	ackDatagram := append(cAck, hs...)
	f.then(once(func(f *flow) { f.push(pkt{from: client, payload: ackDatagram}) }))

	// 1-RTT: a request from the client, a response of a few datagrams from
	// the server, acknowledged every second datagram.
	f.then(once(func(f *flow) { f.push(pkt{from: client, payload: g.shortHeaderOpaque(srvCID, 80+g.rng.IntN(400))}) }))
	resp := 2 + g.rng.IntN(12)
	f.then(once(func(f *flow) {
		for i := 0; i < resp; i++ {
			size := 1250
			if i == resp-1 {
				size = 60 + g.rng.IntN(1000)
			}
			f.push(pkt{from: server, payload: g.shortHeaderOpaque(nil, size)})
			if i%2 == 1 || i == resp-1 {
				f.push(pkt{from: client, payload: g.shortHeaderOpaque(srvCID, 30+g.rng.IntN(20))})
			}
		}
	}))
	return nil
}

// clientInitials returns the datagrams of the client's first flight: Initial
// packets (numbers 0, 1, ...) whose CRYPTO frames carry hello, each padded
// to 1200 bytes. In chaos mode (as Chrome does since 2024) each packet's part
// of the hello is cut into several CRYPTO frames sent in reverse order,
// with PING and PADDING frames between them.
func (g *generator) clientInitials(k *initialKeys, dcid, hello []byte, chaos bool) ([][]byte, error) {
	room := quicMinInitial - initialHeaderLen(dcid, nil) - quicTagLen
	var out [][]byte
	off := 0
	for pn := uint32(0); off < len(hello); pn++ {
		// Leave room for the frame headers (and, in chaos mode, a few more
		// frames and PINGs).
		n := min(len(hello)-off, room-8)
		if chaos {
			n = min(len(hello)-off, room-40)
		}
		var frames []byte
		if chaos {
			parts := g.cuts(n, 2+g.rng.IntN(3))
			ends := append(parts, n)
			for i := len(ends) - 1; i >= 0; i-- {
				s := 0
				if i > 0 {
					s = ends[i-1]
				}
				frames = cryptoFrame(frames, uint64(off+s), hello[off+s:off+ends[i]])
				if g.rng.IntN(2) == 0 {
					frames = append(frames, 0x01) // PING
				}
				frames = append(frames, make([]byte, g.rng.IntN(4))...) // PADDING
			}
		} else {
			frames = cryptoFrame(frames, uint64(off), hello[off:off+n])
		}
		off += n
		if len(frames) > room {
			return nil, errInitialOverflow
		}
		frames = append(frames, make([]byte, room-len(frames))...) // PADDING to 1200 bytes
		hdr, pnOff := initialHeader(dcid, nil, pn, len(frames))
		p, err := k.protect(hdr, pnOff, pn, frames)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

type quicError string

func (e quicError) Error() string { return string(e) }

const errInitialOverflow = quicError("quic: CRYPTO frames do not fit an Initial packet")

// longHeaderOpaque returns a long-header packet of the given type (2 =
// Handshake) of total size bytes whose protected part is random: what an
// observer without the handshake keys sees.
func (g *generator) longHeaderOpaque(typ byte, dcid, scid []byte, size int) []byte {
	b := make([]byte, 0, size)
	b = append(b, 0xc0|typ<<4|byte(g.rng.IntN(16)))
	b = binary.BigEndian.AppendUint32(b, quicVersion1)
	b = append(b, byte(len(dcid)))
	b = append(b, dcid...)
	b = append(b, byte(len(scid)))
	b = append(b, scid...)
	rest := max(size-len(b)-2, 20)
	b = append(b, 0x40|byte(rest>>8), byte(rest))
	return append(b, g.randomBytes(rest)...)
}

// shortHeaderOpaque returns a 1-RTT packet of size bytes: the header form
// and fixed bits, the destination connection ID, the rest random.
func (g *generator) shortHeaderOpaque(dcid []byte, size int) []byte {
	b := make([]byte, 0, size)
	b = append(b, 0x40|byte(g.rng.IntN(64)))
	b = append(b, dcid...)
	return append(b, g.randomBytes(max(size-len(b), 20))...)
}
