package tlsrecords

import (
	"bytes"
	"net"
	"testing"
)

func TestLengths(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	sent := []byte{22, 3, 1, 0, 2, 'a', 'b', 23, 3, 3, 0, 1, 'c', 23, 3}
	go func() {
		server.Write(sent)
		server.Close()
	}()
	r := &ReadLog{Conn: client}
	buf := make([]byte, 64)
	for {
		if _, err := r.Read(buf); err != nil {
			break
		}
	}
	got, err := r.Lengths()
	if len(got) != 2 || got[0] != 2 || got[1] != 1 || err == nil {
		t.Fatalf("lengths %v, %v; want [2 1] and an error for the 2 bytes left", got, err)
	}
	if !bytes.Equal(r.Bytes(), sent) {
		t.Fatalf("kept %v, sent %v", r.Bytes(), sent)
	}
}
