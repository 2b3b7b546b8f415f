package analyze

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// CaptureLimits bound the memory one capture file can take, whatever its
// size: live flows, bytes buffered per flow, out-of-order segments held.
// Past MaxFlows the least recently seen flow is dropped; if it comes back
// it gets a new stream number (tshark's numbering then differs).
type CaptureLimits struct {
	MaxFlows       int // live TCP flows tracked at once; the oldest idle ones go first
	MaxStreamBytes int // client bytes buffered per flow while a hello or head is incomplete
	MaxPendingSegs int // out-of-order segments held per direction
}

// DefaultCaptureLimits returns the limits fp analyze uses.
func DefaultCaptureLimits() CaptureLimits {
	return CaptureLimits{MaxFlows: 65536, MaxStreamBytes: 256 << 10, MaxPendingSegs: 64}
}

// CaptureStats counts what a capture held.
type CaptureStats struct {
	Packets   int64
	Skipped   int64 // packets that could not be decoded (malformed)
	Other     int64 // packets without IP and TCP or UDP (ARP, ICMP, ...), IP fragments, unknown link types
	TCPFlows  int64
	UDPFlows  int64
	Evicted   int64 // flows dropped from the table to stay within MaxFlows
	Truncated bool  // the file ended inside a packet or block
}

// Capture analyses pcap and pcapng files.
type Capture struct {
	Raw    *Raw // limits of the fingerprint parsers
	Limits CaptureLimits
	// KeyLog, when set, decrypts TLS 1.3 and TLS 1.2 AEAD connections
	// whose secrets it holds: their HTTP/1 and HTTP/2 requests are reported.
	KeyLog *KeyLog
	// Progress, when set, is called every ProgressEvery packets with the
	// bytes read so far.
	Progress      func(bytesRead int64, st CaptureStats)
	ProgressEvery int64
}

// NewCapture returns a Capture with the default limits.
func NewCapture() *Capture {
	return &Capture{Raw: NewRaw(), Limits: DefaultCaptureLimits(), ProgressEvery: 1 << 16}
}

// IsCapture reports whether b starts with a pcap or pcapng magic number.
func IsCapture(b []byte) bool {
	if len(b) < 4 {
		return false
	}
	switch binary.LittleEndian.Uint32(b) {
	case 0xa1b2c3d4, 0xd4c3b2a1, 0xa1b23c4d, 0x4d3cb2a1, 0x0a0d0d0a:
		return true
	}
	return false
}

// packetSource is what pcapgo's two readers have in common.
type packetSource interface {
	ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error)
}

// countingReader counts the bytes read, to name the offset of damage.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// Analyse reads a capture from r and calls emit for every hello and
// request, in the order they complete. It returns what it read before an
// error; an error that names a file offset wraps ErrDamagedCapture.
func (c *Capture) Analyse(ctx context.Context, file string, r io.Reader, emit func(Record) error) (CaptureStats, error) {
	var st CaptureStats
	// Key logs inside the pcapng (Decryption Secrets Blocks) join the
	// given one; the caller's KeyLog is not modified.
	keys := NewKeyLog()
	if c.KeyLog != nil {
		for k, v := range c.KeyLog.sessions {
			keys.sessions[k] = v
		}
	}
	watcher := newSecretsWatcher(r, keys)
	cr := &countingReader{r: watcher}
	br := bufio.NewReaderSize(cr, 1<<20)
	magic, err := br.Peek(4)
	if err != nil {
		return st, &InputError{File: file, Err: fmt.Errorf("analyze: reading the capture header: %w", err)}
	}
	var (
		src      packetSource
		linkType func(gopacket.CaptureInfo) layers.LinkType
	)
	if binary.LittleEndian.Uint32(magic) == 0x0a0d0d0a {
		ng, err := pcapgo.NewNgReader(br, pcapgo.DefaultNgReaderOptions)
		if err != nil {
			return st, &InputError{File: file, Err: fmt.Errorf("analyze: pcapng: %w", err)}
		}
		src = ng
		linkType = func(ci gopacket.CaptureInfo) layers.LinkType {
			if iface, err := ng.Interface(ci.InterfaceIndex); err == nil {
				return iface.LinkType
			}
			return ng.LinkType()
		}
	} else {
		pr, err := pcapgo.NewReader(br)
		if err != nil {
			return st, &InputError{File: file, Err: fmt.Errorf("analyze: pcap: %w", err)}
		}
		src = pr
		lt := pr.LinkType()
		linkType = func(gopacket.CaptureInfo) layers.LinkType { return lt }
	}

	t := newTracker(file, c, keys, emit, &st)
	dec := newDecoder()
	for {
		if st.Packets%4096 == 0 && ctx.Err() != nil {
			return st, ctx.Err()
		}
		data, ci, err := src.ZeroCopyReadPacketData()
		if err == io.EOF {
			break
		}
		if err != nil {
			st.Truncated = true
			offset := cr.n - int64(br.Buffered())
			return st, &InputError{File: file, Err: fmt.Errorf("%w at offset %d after %d packets: %v", ErrDamagedCapture, offset, st.Packets, err)}
		}
		st.Packets++
		if c.Progress != nil && c.ProgressEvery > 0 && st.Packets%c.ProgressEvery == 0 {
			c.Progress(cr.n-int64(br.Buffered()), st)
		}
		pkt, kind := dec.decode(linkType(ci), data)
		switch kind {
		case decodeMalformed:
			st.Skipped++
			continue
		case decodeOther:
			st.Other++
			continue
		}
		pkt.time = ci.Timestamp
		if err := t.packet(pkt); err != nil {
			return st, err
		}
	}
	return st, nil
}

// ErrDamagedCapture: the capture file ends inside a packet or block, or a
// block cannot be read.
var ErrDamagedCapture = errors.New("analyze: damaged capture")

// decodedPacket is the transport view of one packet; slices alias the
// packet data and are valid until the next read.
type decodedPacket struct {
	src, dst netip.AddrPort
	tcp      bool
	syn, ack bool
	fin, rst bool
	seq      uint32
	payload  []byte
	time     time.Time
}

// decoder turns link-layer frames into decodedPackets with gopacket's
// layer decoders, through VLAN tags and GRE, ERSPAN, VXLAN and Geneve
// tunnels; the innermost IP and TCP or UDP header wins.
type decoder struct {
	eth     layers.Ethernet
	dot1q   layers.Dot1Q
	sll     layers.LinuxSLL
	sll2    layers.LinuxSLL2
	loop    layers.Loopback
	ip4     layers.IPv4
	ip6     layers.IPv6
	tcp     layers.TCP
	udp     layers.UDP
	gre     layers.GRE
	erspan  layers.ERSPANII
	vxlan   layers.VXLAN
	geneve  layers.Geneve
	payload gopacket.Payload
	layers  []gopacket.LayerType
	parsers map[gopacket.LayerType]*gopacket.DecodingLayerParser
}

func newDecoder() *decoder {
	d := &decoder{parsers: map[gopacket.LayerType]*gopacket.DecodingLayerParser{}}
	for _, first := range []gopacket.LayerType{layers.LayerTypeEthernet, layers.LayerTypeLinuxSLL,
		layers.LayerTypeLinuxSLL2, layers.LayerTypeLoopback, layers.LayerTypeIPv4, layers.LayerTypeIPv6} {
		p := gopacket.NewDecodingLayerParser(first, &d.eth, &d.dot1q, &d.sll, &d.sll2, &d.loop, &d.ip4, &d.ip6,
			&d.tcp, &d.udp, &d.gre, &d.erspan, &d.vxlan, &d.geneve, &d.payload)
		p.IgnoreUnsupported = true
		d.parsers[first] = p
	}
	return d
}

// decodeResult says what a frame turned out to be.
type decodeResult uint8

const (
	decodeOK        decodeResult = iota
	decodeOther                  // fine, but not IP with TCP or UDP
	decodeMalformed              // a header that cannot be read
)

// decode returns the packet's innermost IP endpoints and TCP or UDP
// header.
func (d *decoder) decode(lt layers.LinkType, data []byte) (decodedPacket, decodeResult) {
	var first gopacket.LayerType
	switch lt {
	case layers.LinkTypeEthernet:
		first = layers.LayerTypeEthernet
	case layers.LinkTypeLinuxSLL:
		first = layers.LayerTypeLinuxSLL
	case layers.LinkTypeLinuxSLL2:
		first = layers.LayerTypeLinuxSLL2
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		first = layers.LayerTypeLoopback
	case layers.LinkTypeRaw, layers.LinkTypeIPv4, layers.LinkTypeIPv6, 12, 14:
		if len(data) == 0 {
			return decodedPacket{}, decodeMalformed
		}
		first = layers.LayerTypeIPv4
		if data[0]>>4 == 6 {
			first = layers.LayerTypeIPv6
		}
	default:
		return decodedPacket{}, decodeOther
	}
	d.layers = d.layers[:0]
	if err := d.parsers[first].DecodeLayers(data, &d.layers); err != nil {
		return decodedPacket{}, decodeMalformed
	}
	var p decodedPacket
	var ip netip.Addr
	var dstIP netip.Addr
	haveIP, haveL4 := false, false
	for _, l := range d.layers {
		switch l {
		case layers.LayerTypeIPv4:
			ip, _ = netip.AddrFromSlice(d.ip4.SrcIP.To4())
			dstIP, _ = netip.AddrFromSlice(d.ip4.DstIP.To4())
			haveIP, haveL4 = true, false
			if d.ip4.Flags&layers.IPv4MoreFragments != 0 || d.ip4.FragOffset != 0 {
				return decodedPacket{}, decodeOther // fragments are not reassembled
			}
		case layers.LayerTypeIPv6:
			ip, _ = netip.AddrFromSlice(d.ip6.SrcIP)
			dstIP, _ = netip.AddrFromSlice(d.ip6.DstIP)
			haveIP, haveL4 = true, false
		case layers.LayerTypeTCP:
			p.src, p.dst = netip.AddrPortFrom(ip, uint16(d.tcp.SrcPort)), netip.AddrPortFrom(dstIP, uint16(d.tcp.DstPort))
			p.tcp, p.syn, p.ack, p.fin, p.rst = true, d.tcp.SYN, d.tcp.ACK, d.tcp.FIN, d.tcp.RST
			p.seq, p.payload = d.tcp.Seq, d.tcp.Payload
			haveL4 = true
		case layers.LayerTypeUDP:
			p.src, p.dst = netip.AddrPortFrom(ip, uint16(d.udp.SrcPort)), netip.AddrPortFrom(dstIP, uint16(d.udp.DstPort))
			p.tcp, p.payload = false, d.udp.Payload
			haveL4 = true
		}
	}
	if !haveIP || !haveL4 {
		return decodedPacket{}, decodeOther
	}
	return p, decodeOK
}
