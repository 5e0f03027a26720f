package inbox

import (
	"regexp"
	"strings"
	"unicode/utf8"
)

// maxErrorLen bounds the last_error stored on an event.
const maxErrorLen = 1000

// secretPatterns match credentials that can end up in error text, for
// example in the URL of a failed Graph API call.
var secretPatterns = []*regexp.Regexp{
	regexp.MustCompile(`(?i)\b(access_token|appsecret_proof|app_secret|client_secret|input_token|api_key|key|token|secret|password)=[^&\s"']+`),
	regexp.MustCompile(`(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]+`),
	regexp.MustCompile(`\bEAA[A-Za-z0-9]{16,}`),    // Meta access tokens
	regexp.MustCompile(`\bsct_[A-Za-z0-9_-]{16,}`), // SeaChat API tokens
	regexp.MustCompile(`\bAIza[A-Za-z0-9_-]{20,}`), // Google API keys
}

// redact removes credentials from s.
func redact(s string) string {
	for _, re := range secretPatterns {
		s = re.ReplaceAllStringFunc(s, func(m string) string {
			if i := strings.IndexAny(m, "= "); i >= 0 && (m[i] == '=' || strings.EqualFold(m[:i], "bearer")) {
				return m[:i+1] + "REDACTED"
			}
			return "REDACTED"
		})
	}
	return s
}

// errorText is the last_error stored for err: redacted and bounded.
func errorText(err error) string {
	s := redact(err.Error())
	if len(s) <= maxErrorLen {
		return s
	}
	cut := maxErrorLen
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
