package main

import (
	"bufio"
	"encoding/binary"
	"io"
	"net/netip"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// sink writes packets to a pcap or pcapng file and counts the bytes written
// (for pcapng, up to the few KB its writer buffers on its own).
type sink struct {
	buf     *bufio.Writer
	written int64
	write   func(ci gopacket.CaptureInfo, data []byte) error
	flushNg func() error
}

// counter counts the bytes that go through it.
type counter struct {
	w io.Writer
	n *int64
}

func (c counter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	*c.n += int64(n)
	return n, err
}

const snapLen = 65535

func newSink(w io.Writer, format string) (*sink, error) {
	s := &sink{buf: bufio.NewWriterSize(w, 1<<20)}
	cw := counter{w: s.buf, n: &s.written}
	if format == "pcapng" {
		ng, err := pcapgo.NewNgWriterInterface(cw, pcapgo.NgInterface{
			Name:                "eth0",
			LinkType:            layers.LinkTypeEthernet,
			SnapLength:          snapLen,
			TimestampResolution: 9,
		}, pcapgo.NgWriterOptions{SectionInfo: pcapgo.NgSectionInfo{Application: "fp gencapture"}})
		if err != nil {
			return nil, err
		}
		s.write = ng.WritePacket
		s.flushNg = ng.Flush
		return s, nil
	}
	pw := pcapgo.NewWriter(cw) // microsecond timestamps
	if err := pw.WriteFileHeader(snapLen, layers.LinkTypeEthernet); err != nil {
		return nil, err
	}
	s.write = pw.WritePacket
	return s, nil
}

func (s *sink) flush() error {
	if s.flushNg != nil {
		if err := s.flushNg(); err != nil {
			return err
		}
	}
	return s.buf.Flush()
}

// emitter serializes flow packets into Ethernet frames, reusing its layers
// and buffer.
type emitter struct {
	sink  *sink
	start time.Time
	buf   gopacket.SerializeBuffer
	opts  gopacket.SerializeOptions
	eth   layers.Ethernet
	ip4   layers.IPv4
	ip6   layers.IPv6
	tcp   layers.TCP
	udp   layers.UDP
	synOp [5]layers.TCPOption
	tsOp  [3]layers.TCPOption
	tsVal [8]byte
	mss   [2]byte
	stats *stats
}

func newEmitter(s *sink, start time.Time, st *stats) *emitter {
	e := &emitter{
		sink:  s,
		start: start,
		buf:   gopacket.NewSerializeBufferExpectedSize(64, 1500),
		opts:  gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true},
		stats: st,
	}
	e.ip4 = layers.IPv4{Version: 4, TTL: 64, Flags: layers.IPv4DontFragment}
	e.ip6 = layers.IPv6{Version: 6, HopLimit: 64}
	return e
}

// emit writes packet p of flow f at time now.
func (e *emitter) emit(f *flow, p *pkt, now time.Time) error {
	src, dst := f.cli, f.srv
	e.eth.SrcMAC, e.eth.DstMAC = f.cliMAC, f.srvMAC
	if p.from == server {
		src, dst = dst, src
		e.eth.SrcMAC, e.eth.DstMAC = e.eth.DstMAC, e.eth.SrcMAC
	}
	proto := layers.IPProtocolTCP
	if f.udp {
		proto = layers.IPProtocolUDP
	}
	var network gopacket.NetworkLayer
	var ipLayer gopacket.SerializableLayer
	if src.Addr().Is4() {
		e.eth.EthernetType = layers.EthernetTypeIPv4
		e.ip4.SrcIP, e.ip4.DstIP = src.Addr().AsSlice(), dst.Addr().AsSlice()
		e.ip4.Protocol = proto
		e.ip4.Id = f.ipID[p.from]
		f.ipID[p.from]++
		network, ipLayer = &e.ip4, &e.ip4
	} else {
		e.eth.EthernetType = layers.EthernetTypeIPv6
		e.ip6.SrcIP, e.ip6.DstIP = src.Addr().AsSlice(), dst.Addr().AsSlice()
		e.ip6.NextHeader = proto
		e.ip6.FlowLabel = f.flowLbl
		network, ipLayer = &e.ip6, &e.ip6
	}
	var transport gopacket.SerializableLayer
	if f.udp {
		e.udp = layers.UDP{SrcPort: layers.UDPPort(src.Port()), DstPort: layers.UDPPort(dst.Port())}
		if err := e.udp.SetNetworkLayerForChecksum(network); err != nil {
			return err
		}
		transport = &e.udp
	} else {
		e.tcpHeader(f, p, src, dst, now)
		if err := e.tcp.SetNetworkLayerForChecksum(network); err != nil {
			return err
		}
		transport = &e.tcp
	}
	if err := gopacket.SerializeLayers(e.buf, e.opts, &e.eth, ipLayer, transport, gopacket.Payload(p.payload)); err != nil {
		return err
	}
	data := e.buf.Bytes()
	ci := gopacket.CaptureInfo{Timestamp: now, CaptureLength: len(data), Length: len(data)}
	if err := e.sink.write(ci, data); err != nil {
		return err
	}
	e.stats.packets++
	e.stats.payload += int64(len(p.payload))
	return nil
}

// tcpHeader fills e.tcp with Linux-like options: MSS, SACK permitted,
// timestamps and window scale on SYNs, timestamps on every other segment.
func (e *emitter) tcpHeader(f *flow, p *pkt, src, dst netip.AddrPort, now time.Time) {
	ms := uint32(now.Sub(e.start) / time.Millisecond)
	ts := f.tsBase[p.from] + ms
	echo := f.lastTS[p.from.peer()]
	f.lastTS[p.from] = ts
	binary.BigEndian.PutUint32(e.tsVal[:4], ts)
	binary.BigEndian.PutUint32(e.tsVal[4:], echo)
	e.tcp = layers.TCP{
		SrcPort: layers.TCPPort(src.Port()),
		DstPort: layers.TCPPort(dst.Port()),
		Seq:     p.seq,
		Ack:     p.ack,
		FIN:     p.flags&flagFIN != 0,
		SYN:     p.flags&flagSYN != 0,
		RST:     p.flags&flagRST != 0,
		PSH:     p.flags&flagPSH != 0,
		ACK:     p.flags&flagACK != 0,
		Window:  502,
	}
	if p.from == server {
		e.tcp.Window = 501
	}
	if !e.tcp.ACK {
		e.tcp.Ack = 0
	}
	if e.tcp.SYN {
		binary.BigEndian.PutUint16(e.mss[:], uint16(f.mss+12))
		if !e.tcp.ACK {
			e.tsVal[4], e.tsVal[5], e.tsVal[6], e.tsVal[7] = 0, 0, 0, 0
		}
		e.tcp.Window = 64240
		if p.from == server {
			e.tcp.Window = 65160
		}
		e.synOp = [5]layers.TCPOption{
			{OptionType: layers.TCPOptionKindMSS, OptionData: e.mss[:]},
			{OptionType: layers.TCPOptionKindSACKPermitted},
			{OptionType: layers.TCPOptionKindTimestamps, OptionData: e.tsVal[:]},
			{OptionType: layers.TCPOptionKindNop},
			{OptionType: layers.TCPOptionKindWindowScale, OptionData: []byte{7}},
		}
		e.tcp.Options = e.synOp[:]
		return
	}
	e.tsOp = [3]layers.TCPOption{
		{OptionType: layers.TCPOptionKindNop},
		{OptionType: layers.TCPOptionKindNop},
		{OptionType: layers.TCPOptionKindTimestamps, OptionData: e.tsVal[:]},
	}
	e.tcp.Options = e.tsOp[:]
}
