package web

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"

	"github.com/fpwork/fp/capture"
)

// The /api/clean and /api/raw answers use the field names of the
// best-known public echo (tls.peet.ws), so its clients decode ours. Our
// values follow docs/fingerprints.md where that echo differs (Akamai
// setting 8 printed as "8:1"; WINDOW_UPDATE and PRIORITY taken before the
// first HEADERS only).

// CleanReport is the /api/clean answer.
type CleanReport struct {
	JA3           string `json:"ja3"`
	JA3Hash       string `json:"ja3_hash"`
	JA4           string `json:"ja4"`
	JA4R          string `json:"ja4_r"`
	Akamai        string `json:"akamai"`
	AkamaiHash    string `json:"akamai_hash"`
	PeetPrint     string `json:"peetprint"`
	PeetPrintHash string `json:"peetprint_hash"`
	HTTPVersion   string `json:"http_version"`
}

// RawReport is the /api/raw answer: the ClientHello handshake message
// without its record header, in hex and base64.
type RawReport struct {
	Raw    string `json:"raw"`
	RawB64 string `json:"raw_b64"`
}

// APIClean answers /api/clean.
func (e *Echo) APIClean(w http.ResponseWriter, r *http.Request) {
	rep := e.Report(r)
	clean := CleanReport{JA3: rep.Fingerprints.JA3, JA3Hash: rep.Fingerprints.JA3Hash, JA4: rep.Fingerprints.JA4,
		JA4R: rep.Fingerprints.JA4R, Akamai: rep.Fingerprints.Akamai, AkamaiHash: rep.Fingerprints.AkamaiHash,
		PeetPrint: rep.Fingerprints.PeetPrint, PeetPrintHash: rep.Fingerprints.PeetPrintHash, HTTPVersion: r.Proto}
	if r.ProtoMajor == 2 {
		clean.HTTPVersion = "h2"
	} else {
		clean.Akamai, clean.AkamaiHash = "-", "-"
	}
	writeJSON(w, clean)
}

// APIRaw answers /api/raw.
func APIRaw(w http.ResponseWriter, r *http.Request) {
	var rep RawReport
	if pc, ok := capture.PlainFromContext(r.Context()); ok && pc.Hello() != nil {
		if ch, _, err := pc.Hello().ClientHello(); err == nil {
			msg := ch.Raw // the handshake message, records joined
			rep = RawReport{Raw: hex.EncodeToString(msg), RawB64: base64.StdEncoding.EncodeToString(msg)}
		}
	}
	writeJSON(w, rep)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Access-Control-Allow-Origin", "*")
	json.NewEncoder(w).Encode(v)
}
