package fingerprint

import "strconv"

// CipherSuite is a TLS cipher suite code point.
type CipherSuite uint16

// ExtensionType is a TLS extension code point.
type ExtensionType uint16

// NamedGroup is a supported_groups / key_share code point.
type NamedGroup uint16

// SignatureScheme is a signature_algorithms code point.
type SignatureScheme uint16

// SettingID is an HTTP/2 SETTINGS identifier.
type SettingID uint16

// TLS extension types decoded by ParseClientHello.
const (
	ExtServerName               ExtensionType = 0
	ExtStatusRequest            ExtensionType = 5
	ExtSupportedGroups          ExtensionType = 10
	ExtECPointFormats           ExtensionType = 11
	ExtSignatureAlgorithms      ExtensionType = 13
	ExtALPN                     ExtensionType = 16
	ExtStatusRequestV2          ExtensionType = 17
	ExtSignedCertTimestamp      ExtensionType = 18
	ExtPadding                  ExtensionType = 21
	ExtEncryptThenMAC           ExtensionType = 22
	ExtExtendedMasterSecret     ExtensionType = 23
	ExtCompressCertificate      ExtensionType = 27
	ExtRecordSizeLimit          ExtensionType = 28
	ExtDelegatedCredentials     ExtensionType = 34
	ExtSessionTicket            ExtensionType = 35
	ExtPreSharedKey             ExtensionType = 41
	ExtEarlyData                ExtensionType = 42
	ExtSupportedVersions        ExtensionType = 43
	ExtCookie                   ExtensionType = 44
	ExtPSKKeyExchangeModes      ExtensionType = 45
	ExtCertificateAuthorities   ExtensionType = 47
	ExtPostHandshakeAuth        ExtensionType = 49
	ExtSignatureAlgorithmsCert  ExtensionType = 50
	ExtKeyShare                 ExtensionType = 51
	ExtQUICTransportParameters  ExtensionType = 57
	ExtApplicationSettingsOld   ExtensionType = 17513
	ExtApplicationSettings      ExtensionType = 17613
	ExtQUICTransportParamsDraft ExtensionType = 65445
	ExtEncryptedClientHello     ExtensionType = 65037
	ExtRenegotiationInfo        ExtensionType = 65281
)

func extensionName(v ExtensionType) (string, bool) {
	switch v {
	case ExtServerName:
		return "server_name", true
	case 1:
		return "max_fragment_length", true
	case ExtStatusRequest:
		return "status_request", true
	case ExtSupportedGroups:
		return "supported_groups", true
	case ExtECPointFormats:
		return "ec_point_formats", true
	case ExtSignatureAlgorithms:
		return "signature_algorithms", true
	case 14:
		return "use_srtp", true
	case 15:
		return "heartbeat", true
	case ExtALPN:
		return "application_layer_protocol_negotiation", true
	case ExtStatusRequestV2:
		return "status_request_v2", true
	case ExtSignedCertTimestamp:
		return "signed_certificate_timestamp", true
	case ExtPadding:
		return "padding", true
	case ExtEncryptThenMAC:
		return "encrypt_then_mac", true
	case ExtExtendedMasterSecret:
		return "extended_master_secret", true
	case ExtCompressCertificate:
		return "compress_certificate", true
	case ExtRecordSizeLimit:
		return "record_size_limit", true
	case ExtDelegatedCredentials:
		return "delegated_credentials", true
	case ExtSessionTicket:
		return "session_ticket", true
	case ExtPreSharedKey:
		return "pre_shared_key", true
	case ExtEarlyData:
		return "early_data", true
	case ExtSupportedVersions:
		return "supported_versions", true
	case ExtCookie:
		return "cookie", true
	case ExtPSKKeyExchangeModes:
		return "psk_key_exchange_modes", true
	case ExtCertificateAuthorities:
		return "certificate_authorities", true
	case ExtPostHandshakeAuth:
		return "post_handshake_auth", true
	case ExtSignatureAlgorithmsCert:
		return "signature_algorithms_cert", true
	case ExtKeyShare:
		return "key_share", true
	case ExtQUICTransportParameters:
		return "quic_transport_parameters", true
	case ExtApplicationSettingsOld:
		return "application_settings_old", true
	case ExtApplicationSettings:
		return "application_settings", true
	case ExtQUICTransportParamsDraft:
		return "quic_transport_parameters_draft", true
	case ExtEncryptedClientHello:
		return "encrypted_client_hello", true
	case ExtRenegotiationInfo:
		return "renegotiation_info", true
	}
	return "", false
}

// String returns the IANA name of the extension, "GREASE" for a GREASE
// value, or UNKNOWN_<n>.
func (t ExtensionType) String() string {
	if IsGREASE(uint16(t)) {
		return "GREASE"
	}
	return lookupName(extensionName, t)
}

func cipherSuiteName(v CipherSuite) (string, bool) {
	switch v {
	case 0x0004:
		return "TLS_RSA_WITH_RC4_128_MD5", true
	case 0x0005:
		return "TLS_RSA_WITH_RC4_128_SHA", true
	case 0x000a:
		return "TLS_RSA_WITH_3DES_EDE_CBC_SHA", true
	case 0x002f:
		return "TLS_RSA_WITH_AES_128_CBC_SHA", true
	case 0x0032:
		return "TLS_DHE_DSS_WITH_AES_128_CBC_SHA", true
	case 0x0033:
		return "TLS_DHE_RSA_WITH_AES_128_CBC_SHA", true
	case 0x0035:
		return "TLS_RSA_WITH_AES_256_CBC_SHA", true
	case 0x0038:
		return "TLS_DHE_DSS_WITH_AES_256_CBC_SHA", true
	case 0x0039:
		return "TLS_DHE_RSA_WITH_AES_256_CBC_SHA", true
	case 0x003c:
		return "TLS_RSA_WITH_AES_128_CBC_SHA256", true
	case 0x003d:
		return "TLS_RSA_WITH_AES_256_CBC_SHA256", true
	case 0x0067:
		return "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256", true
	case 0x006b:
		return "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256", true
	case 0x009c:
		return "TLS_RSA_WITH_AES_128_GCM_SHA256", true
	case 0x009d:
		return "TLS_RSA_WITH_AES_256_GCM_SHA384", true
	case 0x009e:
		return "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256", true
	case 0x009f:
		return "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384", true
	case 0x00ff:
		return "TLS_EMPTY_RENEGOTIATION_INFO_SCSV", true
	case 0x1301:
		return "TLS_AES_128_GCM_SHA256", true
	case 0x1302:
		return "TLS_AES_256_GCM_SHA384", true
	case 0x1303:
		return "TLS_CHACHA20_POLY1305_SHA256", true
	case 0x1304:
		return "TLS_AES_128_CCM_SHA256", true
	case 0x1305:
		return "TLS_AES_128_CCM_8_SHA256", true
	case 0x5600:
		return "TLS_FALLBACK_SCSV", true
	case 0xc007:
		return "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA", true
	case 0xc009:
		return "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", true
	case 0xc00a:
		return "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", true
	case 0xc011:
		return "TLS_ECDHE_RSA_WITH_RC4_128_SHA", true
	case 0xc012:
		return "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA", true
	case 0xc013:
		return "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", true
	case 0xc014:
		return "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", true
	case 0xc023:
		return "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", true
	case 0xc024:
		return "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384", true
	case 0xc027:
		return "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", true
	case 0xc028:
		return "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384", true
	case 0xc02b:
		return "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", true
	case 0xc02c:
		return "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", true
	case 0xc02f:
		return "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", true
	case 0xc030:
		return "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", true
	case 0xcca8:
		return "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", true
	case 0xcca9:
		return "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", true
	case 0xccaa:
		return "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256", true
	}
	return "", false
}

// String returns the IANA name of the suite, "GREASE", or UNKNOWN_<n>.
func (c CipherSuite) String() string {
	if IsGREASE(uint16(c)) {
		return "GREASE"
	}
	return lookupName(cipherSuiteName, c)
}

func namedGroupName(v NamedGroup) (string, bool) {
	switch v {
	case 23:
		return "secp256r1", true
	case 24:
		return "secp384r1", true
	case 25:
		return "secp521r1", true
	case 29:
		return "x25519", true
	case 30:
		return "x448", true
	case 256:
		return "ffdhe2048", true
	case 257:
		return "ffdhe3072", true
	case 258:
		return "ffdhe4096", true
	case 259:
		return "ffdhe6144", true
	case 260:
		return "ffdhe8192", true
	case 0x11ec:
		return "X25519MLKEM768", true
	case 0x11eb:
		return "SecP256r1MLKEM768", true
	case 0x11ed:
		return "SecP384r1MLKEM1024", true
	case 0x6399:
		return "X25519Kyber768Draft00", true
	}
	return "", false
}

// String returns the IANA name of the group, "GREASE", or UNKNOWN_<n>.
func (g NamedGroup) String() string {
	if IsGREASE(uint16(g)) {
		return "GREASE"
	}
	return lookupName(namedGroupName, g)
}

func signatureSchemeName(v SignatureScheme) (string, bool) {
	switch v {
	case 0x0201:
		return "rsa_pkcs1_sha1", true
	case 0x0203:
		return "ecdsa_sha1", true
	case 0x0401:
		return "rsa_pkcs1_sha256", true
	case 0x0403:
		return "ecdsa_secp256r1_sha256", true
	case 0x0501:
		return "rsa_pkcs1_sha384", true
	case 0x0503:
		return "ecdsa_secp384r1_sha384", true
	case 0x0601:
		return "rsa_pkcs1_sha512", true
	case 0x0603:
		return "ecdsa_secp521r1_sha512", true
	case 0x0804:
		return "rsa_pss_rsae_sha256", true
	case 0x0805:
		return "rsa_pss_rsae_sha384", true
	case 0x0806:
		return "rsa_pss_rsae_sha512", true
	case 0x0807:
		return "ed25519", true
	case 0x0808:
		return "ed448", true
	case 0x0809:
		return "rsa_pss_pss_sha256", true
	case 0x080a:
		return "rsa_pss_pss_sha384", true
	case 0x080b:
		return "rsa_pss_pss_sha512", true
	}
	return "", false
}

// String returns the IANA name of the scheme, "GREASE", or UNKNOWN_<n>.
func (s SignatureScheme) String() string {
	if IsGREASE(uint16(s)) {
		return "GREASE"
	}
	return lookupName(signatureSchemeName, s)
}

// HTTP/2 settings identifiers (RFC 9113 section 6.5.2, RFC 8441, RFC 9218).
const (
	SettingHeaderTableSize       SettingID = 1
	SettingEnablePush            SettingID = 2
	SettingMaxConcurrentStreams  SettingID = 3
	SettingInitialWindowSize     SettingID = 4
	SettingMaxFrameSize          SettingID = 5
	SettingMaxHeaderListSize     SettingID = 6
	SettingEnableConnectProtocol SettingID = 8
	SettingNoRFC7540Priorities   SettingID = 9
)

func settingName(v SettingID) (string, bool) {
	switch v {
	case SettingHeaderTableSize:
		return "HEADER_TABLE_SIZE", true
	case SettingEnablePush:
		return "ENABLE_PUSH", true
	case SettingMaxConcurrentStreams:
		return "MAX_CONCURRENT_STREAMS", true
	case SettingInitialWindowSize:
		return "INITIAL_WINDOW_SIZE", true
	case SettingMaxFrameSize:
		return "MAX_FRAME_SIZE", true
	case SettingMaxHeaderListSize:
		return "MAX_HEADER_LIST_SIZE", true
	case SettingEnableConnectProtocol:
		return "ENABLE_CONNECT_PROTOCOL", true
	case SettingNoRFC7540Priorities:
		return "NO_RFC7540_PRIORITIES", true
	}
	return "", false
}

// String returns the RFC name of the setting, or UNKNOWN_<n> (GREASE ids of
// HTTP/2 are not reserved by an RFC, so they print as unknown).
func (s SettingID) String() string { return lookupName(settingName, s) }

func lookupName[K ~uint16](table func(K) (string, bool), k K) string {
	if name, ok := table(k); ok {
		return name
	}
	return "UNKNOWN_" + strconv.Itoa(int(k))
}
