// Package pcapsynth writes synthetic capture files for tests of the
// capture front end: the hard cases (reordering, retransmission, tunnels,
// IPv6, VLAN) that a loopback capture does not produce.
package pcapsynth

import (
	"bytes"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// Writer builds pcap files for tests: real frames from gopacket's
// serialisers (checksums and lengths computed) in a chosen link type and
// encapsulation ("", "vlan", "gre", "erspan", "vxlan", "geneve"), around
// given payloads. Link types: Ethernet, raw IP, Null/loopback, Linux
// cooked v1 and v2 (the last three without tunnels).
type Writer struct {
	err   error // the first error; later calls do nothing
	buf   bytes.Buffer
	w     *pcapgo.Writer
	link  layers.LinkType
	encap string // "", "vlan", "gre", "vxlan"
	now   time.Time
}

// New starts a capture of the given link type and encapsulation.
func New(link layers.LinkType, encap string) *Writer {
	s := &Writer{link: link, encap: encap, now: time.Date(2026, 11, 25, 1, 2, 3, 456789000, time.UTC)}
	s.w = pcapgo.NewWriterNanos(&s.buf)
	s.err = s.w.WriteFileHeader(65535, link)
	return s
}

// Bytes returns the capture written so far, or the first error.
func (s *Writer) Bytes() ([]byte, error) { return s.buf.Bytes(), s.err }

// Raw appends a frame as given, for corrupt-frame tests.
func (s *Writer) Raw(frame []byte) {
	if s.err == nil {
		s.err = s.w.WritePacket(gopacket.CaptureInfo{Timestamp: s.now, CaptureLength: len(frame), Length: len(frame)}, frame)
	}
}

// Conn is one TCP connection: the client's and server's next
// sequence numbers.
type Conn struct {
	Cli, Srv       netip.AddrPort
	CliSeq, SrvSeq uint32
}

// Conn returns a connection between two ip:port endpoints.
func (s *Writer) Conn(cli, srv string) *Conn {
	return &Conn{Cli: netip.MustParseAddrPort(cli), Srv: netip.MustParseAddrPort(srv), CliSeq: 1000, SrvSeq: 90000}
}

// TCP writes one segment and returns its timestamp. fromClient picks the
// direction; flags holds S, A, F; seq is the sequence number to put on it.
func (s *Writer) TCP(c *Conn, fromClient bool, flags string, seq uint32, payload []byte) time.Time {
	src, dst := c.Cli, c.Srv
	ack := c.SrvSeq
	if !fromClient {
		src, dst, ack = c.Srv, c.Cli, c.CliSeq
	}
	tcp := &layers.TCP{SrcPort: layers.TCPPort(src.Port()), DstPort: layers.TCPPort(dst.Port()), Seq: seq, Ack: ack,
		Window: 65535, SYN: strings.Contains(flags, "S"), ACK: strings.Contains(flags, "A"),
		FIN: strings.Contains(flags, "F"), PSH: len(payload) > 0}
	if !tcp.SYN || tcp.ACK {
		tcp.ACK = true
	}
	if tcp.SYN && !strings.Contains(flags, "A") {
		tcp.ACK = false
	}
	inner := s.ipLayers(src.Addr(), dst.Addr(), layers.IPProtocolTCP)
	if err := tcp.SetNetworkLayerForChecksum(inner[len(inner)-1].(gopacket.NetworkLayer)); err != nil && s.err == nil {
		s.err = err
	}
	all := append(s.outer(inner), tcp, gopacket.Payload(payload))
	return s.write(all)
}

// UDP writes one datagram from src to dst (ip:port) and returns its
// timestamp.
func (s *Writer) UDP(src, dst netip.AddrPort, payload []byte) time.Time {
	udp := &layers.UDP{SrcPort: layers.UDPPort(src.Port()), DstPort: layers.UDPPort(dst.Port())}
	inner := s.ipLayers(src.Addr(), dst.Addr(), layers.IPProtocolUDP)
	if err := udp.SetNetworkLayerForChecksum(inner[len(inner)-1].(gopacket.NetworkLayer)); err != nil && s.err == nil {
		s.err = err
	}
	return s.write(append(s.outer(inner), udp, gopacket.Payload(payload)))
}

// ipLayers returns the (inner) IP header for src→dst.
func (s *Writer) ipLayers(src, dst netip.Addr, proto layers.IPProtocol) []gopacket.SerializableLayer {
	if src.Is4() {
		return []gopacket.SerializableLayer{&layers.IPv4{Version: 4, TTL: 64, Protocol: proto,
			SrcIP: net.IP(src.AsSlice()), DstIP: net.IP(dst.AsSlice())}}
	}
	return []gopacket.SerializableLayer{&layers.IPv6{Version: 6, HopLimit: 64, NextHeader: proto,
		SrcIP: net.IP(src.AsSlice()), DstIP: net.IP(dst.AsSlice())}}
}

func ethType(l gopacket.SerializableLayer) layers.EthernetType {
	if _, ok := l.(*layers.IPv6); ok {
		return layers.EthernetTypeIPv6
	}
	return layers.EthernetTypeIPv4
}

// outer wraps the inner IP header in the link layer and tunnel.
func (s *Writer) outer(inner []gopacket.SerializableLayer) []gopacket.SerializableLayer {
	mac := func(b byte) net.HardwareAddr { return net.HardwareAddr{2, 0, 0, 0, 0, b} }
	eth := func(t layers.EthernetType) *layers.Ethernet {
		return &layers.Ethernet{SrcMAC: mac(1), DstMAC: mac(2), EthernetType: t}
	}
	tunnelIP := func(proto layers.IPProtocol) *layers.IPv4 {
		return &layers.IPv4{Version: 4, TTL: 64, Protocol: proto, SrcIP: net.IP{192, 0, 2, 1}, DstIP: net.IP{192, 0, 2, 2}}
	}
	proto := ethType(inner[0])
	switch s.link {
	case layers.LinkTypeRaw:
		return inner
	case layers.LinkTypeNull:
		family := layers.ProtocolFamilyIPv4
		if proto == layers.EthernetTypeIPv6 {
			family = layers.ProtocolFamilyIPv6Linux
		}
		return append([]gopacket.SerializableLayer{&layers.Loopback{Family: family}}, inner...)
	case layers.LinkTypeLinuxSLL:
		// packet type, ARPHRD, address length, address (8), protocol
		hdr := []byte{0, 0, 3, 4, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, byte(proto >> 8), byte(proto)}
		return append([]gopacket.SerializableLayer{gopacket.Payload(hdr)}, inner...)
	case layers.LinkTypeLinuxSLL2:
		// protocol, reserved, interface index, ARPHRD, packet type, address length, address (8)
		hdr := []byte{byte(proto >> 8), byte(proto), 0, 0, 0, 0, 0, 1, 3, 4, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0}
		return append([]gopacket.SerializableLayer{gopacket.Payload(hdr)}, inner...)
	}
	switch s.encap {
	case "erspan":
		return append([]gopacket.SerializableLayer{eth(layers.EthernetTypeIPv4), tunnelIP(layers.IPProtocolGRE),
			&layers.GRE{Protocol: layers.EthernetTypeERSPAN, SeqPresent: true, Seq: 1},
			&layers.ERSPANII{Version: 1, VLANIdentifier: 0, SessionID: 1, Index: 1}, eth(proto)}, inner...)
	case "geneve":
		udp := &layers.UDP{SrcPort: 49152, DstPort: 6081}
		outerIP := tunnelIP(layers.IPProtocolUDP)
		if err := udp.SetNetworkLayerForChecksum(outerIP); err != nil && s.err == nil {
			s.err = err
		}
		return append([]gopacket.SerializableLayer{eth(layers.EthernetTypeIPv4), outerIP, udp,
			&layers.Geneve{Protocol: layers.EthernetTypeTransparentEthernetBridging, VNI: 7}, eth(proto)}, inner...)
	case "vlan":
		return append([]gopacket.SerializableLayer{eth(layers.EthernetTypeDot1Q),
			&layers.Dot1Q{VLANIdentifier: 42, Type: ethType(inner[0])}}, inner...)
	case "gre":
		return append([]gopacket.SerializableLayer{eth(layers.EthernetTypeIPv4), tunnelIP(layers.IPProtocolGRE),
			&layers.GRE{Protocol: ethType(inner[0])}}, inner...)
	case "vxlan":
		udp := &layers.UDP{SrcPort: 49152, DstPort: 4789}
		outerIP := tunnelIP(layers.IPProtocolUDP)
		if err := udp.SetNetworkLayerForChecksum(outerIP); err != nil && s.err == nil {
			s.err = err
		}
		return append([]gopacket.SerializableLayer{eth(layers.EthernetTypeIPv4), outerIP, udp,
			&layers.VXLAN{ValidIDFlag: true, VNI: 7}, eth(ethType(inner[0]))}, inner...)
	}
	return append([]gopacket.SerializableLayer{eth(ethType(inner[0]))}, inner...)
}

func (s *Writer) write(ls []gopacket.SerializableLayer) time.Time {
	s.now = s.now.Add(1500 * time.Microsecond)
	if s.err != nil {
		return s.now
	}
	buf := gopacket.NewSerializeBuffer()
	if s.err = gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true}, ls...); s.err != nil {
		return s.now
	}
	data := buf.Bytes()
	s.err = s.w.WritePacket(gopacket.CaptureInfo{Timestamp: s.now, CaptureLength: len(data), Length: len(data)}, data)
	return s.now
}

// Handshake writes SYN, SYN-ACK, ACK.
func (s *Writer) Handshake(c *Conn) {
	s.TCP(c, true, "S", c.CliSeq-1, nil)
	s.TCP(c, false, "SA", c.SrvSeq-1, nil)
	s.TCP(c, true, "A", c.CliSeq, nil)
}
