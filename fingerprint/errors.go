package fingerprint

import (
	"errors"
	"fmt"
)

// Sentinel errors, matched with errors.Is on what the parsers return.
var (
	// ErrTruncated: the input ends before the message is complete. A proper
	// prefix of a valid message always gives this error.
	ErrTruncated = errors.New("fingerprint: input ends before the message is complete")
	// ErrMalformed: the bytes cannot be read as the message they claim to be.
	ErrMalformed = errors.New("fingerprint: malformed message")
	// ErrTooLarge: a size or count read from the input exceeds a limit.
	ErrTooLarge = errors.New("fingerprint: limit exceeded")
	// ErrNotClientHello: the input is not a TLS handshake record or a
	// ClientHello handshake message.
	ErrNotClientHello = errors.New("fingerprint: not a TLS ClientHello")
)

// ParseError locates a parse failure: Offset counts bytes from the start of
// the input given to the parser.
type ParseError struct {
	Parser string // "tls", "http1", "http2"
	Offset int
	Msg    string
	Err    error // one of the sentinel errors
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("fingerprint: %s: %s at offset %d", e.Parser, e.Msg, e.Offset)
}

func (e *ParseError) Unwrap() error { return e.Err }

// Anomaly is something a strict stack would reject, recorded instead of
// failing. Offset counts bytes from the start of the message it was found in
// (the handshake message for TLS, the request head for HTTP/1, the stream
// for HTTP/2).
type Anomaly struct {
	Code   string `json:"code"`
	Offset int    `json:"offset"`
	Detail string `json:"detail,omitempty"`
}

// Anomaly codes.
const (
	AnomalyDuplicateExtension     = "duplicate_extension"
	AnomalyTrailingBytes          = "trailing_bytes"
	AnomalyExtensionTrailing      = "extension_trailing_bytes"
	AnomalyMalformedExtension     = "malformed_extension"
	AnomalyDataAfterHello         = "handshake_data_after_client_hello"
	AnomalyOversizedRecord        = "oversized_record"
	AnomalyEmptyRecord            = "empty_record"
	AnomalyBareLF                 = "bare_lf"
	AnomalyObsFold                = "obsolete_line_folding"
	AnomalyHeaderWithoutColon     = "header_without_colon"
	AnomalyWhitespaceBeforeColon  = "whitespace_before_colon"
	AnomalyUnexpectedContinuation = "unexpected_continuation"
	AnomalyBadFrameSize           = "bad_frame_size"
	AnomalyHPACK                  = "hpack_error"
	AnomalyPseudoAfterRegular     = "pseudo_header_after_regular"
	AnomalyStreamZeroHeaders      = "headers_on_stream_zero"
	AnomalyTooManyStreams         = "too_many_streams"
	AnomalyTooManySettings        = "too_many_settings"
	AnomalyHeaderListTooLarge     = "header_list_too_large"
	AnomalyFramesNotListed        = "frames_not_listed"
)
