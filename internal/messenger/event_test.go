package messenger_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seachat/seachat/internal/messenger"
)

func ms(v int64) time.Time { return time.UnixMilli(v).UTC() }

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return b
}

// TestParseWebhookSamples decodes the sample bodies of MESSENGER.md §2.4 and
// §10 (testdata/*.json).
func TestParseWebhookSamples(t *testing.T) {
	const page, psid = "<PAGE_ID>", "<PSID>"
	for _, tt := range []struct {
		file    string
		want    []messenger.Event
		wantErr error
	}{
		{file: "quick_reply.json", want: []messenger.Event{{
			PageID: "682498171943165", Kind: messenger.KindMessage, SenderID: "1254459154682919", RecipientID: "682498171943165",
			Timestamp: ms(1502905976377), MID: "m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM...", Text: "Green",
			QuickReplyPayload: "DEVELOPER_DEFINED_PAYLOAD_FOR_PICKING_GREEN",
		}}},
		{file: "reply_to.json", want: []messenger.Event{{
			PageID: page, Kind: messenger.KindMessage, SenderID: psid, RecipientID: page, Timestamp: ms(1458692752478),
			MID: "m_1457764197618:41d102a3e1ae206a38", Text: "hello, world!",
		}}},
		{file: "image.json", want: []messenger.Event{{
			PageID: page, Kind: messenger.KindMessage, SenderID: psid, RecipientID: page, Timestamp: ms(1518479195308),
			MID: "mid.$cAAJdkrCd2ORnva8ErFhjGm0X_Q_c", Attachments: []messenger.Attachment{{Type: "image", URL: "<IMAGE_URL>"}},
		}}},
		{file: "sticker.json", want: []messenger.Event{{
			PageID: page, Kind: messenger.KindMessage, SenderID: psid, RecipientID: page, Timestamp: ms(1518479195308), MID: "<MID>",
			Attachments: []messenger.Attachment{
				{Type: "sticker", URL: "https://scontent.xx.fbcdn.net/..."},
				{Type: "image", URL: "https://scontent.xx.fbcdn.net/..."},
			},
		}}},
		{file: "fallback.json", want: []messenger.Event{{
			PageID: page, Kind: messenger.KindMessage, SenderID: psid, RecipientID: page, Timestamp: ms(1518479195308),
			MID: "m_toDnmD...", Text: "This is where I want to go: https://youtu.be/bbo_fZAjIhg",
			Attachments: []messenger.Attachment{{Type: "fallback", URL: "<ATTACHMENT_URL>"}, {Type: "fallback"}},
		}}},
		{file: "echo.json", want: []messenger.Event{{
			PageID: page, Kind: messenger.KindEcho, SenderID: page, RecipientID: psid, Timestamp: ms(1457764197627),
			MID: "mid.1457764197618:41d102a3e1ae206a38", Text: "hello, world!", AppID: "1517776481860111",
			Metadata: "<DEVELOPER_DEFINED_METADATA_STRING>",
		}}},
		{file: "postback.json", want: []messenger.Event{{
			PageID: "PAGE-ID", Kind: messenger.KindPostback, SenderID: "PSID", RecipientID: "PAGE-ID", Timestamp: ms(1458692752478),
			MID: "m_MESSAGE-ID", PostbackTitle: "Get Started", PostbackPayload: "POSTBACK-PAYLOAD-YOU-CONFIGURED",
		}}},
		{file: "referral.json", want: []messenger.Event{{
			PageID: page, Kind: messenger.KindReferral, SenderID: psid, RecipientID: page, Timestamp: ms(1458692752478),
		}}},
		{file: "delivery.json", want: []messenger.Event{{
			PageID: page, Kind: messenger.KindDelivery, SenderID: psid, RecipientID: page, Watermark: ms(1458668856253),
		}}},
		{file: "read.json", want: []messenger.Event{{
			PageID: page, Kind: messenger.KindRead, SenderID: psid, RecipientID: page, Timestamp: ms(1458668856463),
			Watermark: ms(1458668856253),
		}}},
		{file: "reaction.json", want: []messenger.Event{{
			PageID: page, Kind: messenger.KindReaction, SenderID: psid, RecipientID: page, Timestamp: ms(1458668856463),
			Reaction: messenger.Reaction{Reaction: "love", Emoji: "\u2764\ufe0f", Action: "react", MID: "<MID>"},
		}}},
		{file: "optin.json", want: []messenger.Event{{
			PageID: "PAGE_ID", Kind: messenger.KindOptin, SenderID: "USER_ID", RecipientID: "PAGE_ID", Timestamp: ms(1234567890),
		}}},
		{file: "handover.json", want: []messenger.Event{
			{
				PageID: page, Kind: messenger.KindPassThreadControl, SenderID: psid, RecipientID: page, Timestamp: ms(1458692752478),
				NewOwnerAppID: "123456789", Metadata: "Additional content",
			},
			{
				PageID: page, Kind: messenger.KindTakeThreadControl, SenderID: psid, RecipientID: page, Timestamp: ms(1458692752478),
				PreviousOwnerAppID: "123456789", NewOwnerAppID: "263902037430900", Metadata: "...",
			},
			{
				PageID: page, Kind: messenger.KindRequestThreadControl, SenderID: psid, RecipientID: page, Timestamp: ms(1458692752478),
				RequestedOwnerAppID: "263902037430900", Metadata: "...",
			},
			{PageID: page, Kind: messenger.KindUnknown, RecipientID: page, Timestamp: ms(1458692752478)}, // app_roles
		}},
		{file: "standby.json", want: []messenger.Event{{
			PageID: page, Standby: true, Kind: messenger.KindMessage, SenderID: psid, RecipientID: page,
			Timestamp: ms(1458692752478), MID: "...", Text: "still there?",
		}}},
		{file: "policy_enforcement.json", want: []messenger.Event{{
			PageID: "PAGE_ID", Kind: messenger.KindPolicyEnforcement, RecipientID: "PAGE_ID", Timestamp: ms(1458692752478),
		}}},
		{file: "message_edit.json", want: []messenger.Event{{
			PageID: page, Kind: messenger.KindMessageEdit, SenderID: psid, RecipientID: page, Timestamp: ms(1458692752478),
			MID: "<MID>", Text: "hello, edited", NumEdit: 2,
		}}},
		{file: "curl_test.json", want: []messenger.Event{{Kind: messenger.KindUnknown}}},
		{file: "bottender_text.json", want: []messenger.Event{{
			PageID: "1895382890692545", Kind: messenger.KindMessage, SenderID: "1412611362105802", RecipientID: "1895382890692545",
			Timestamp: ms(1486464322190), MID: "mid.1486464322190:cb04e5a654", Text: "text",
		}}},
		{file: "bottender_batch.json", want: []messenger.Event{
			{
				PageID: "1895382890692545", Kind: messenger.KindMessage, SenderID: "1412611362105802", RecipientID: "1895382890692545",
				Timestamp: ms(1486464322190), MID: "mid.1486464322190:cb04e5a654", Text: "test 1",
			},
			{
				PageID: "189538289069256", Kind: messenger.KindMessage, SenderID: "1412611362105802", RecipientID: "1895382890692545",
				Timestamp: ms(1486464322190), MID: "mid.1486464322190:cb04e5a656", Text: "test 2",
			},
		}},
		{file: "bottender_echo.json", want: []messenger.Event{{
			PageID: "1134713619900975", Kind: messenger.KindEcho, SenderID: "1134713619900975", RecipientID: "1244813222196986",
			Timestamp: ms(1492414608982), MID: "mid.$cAARS90328R5hrBz-Vlbete17ftIb", Text: "text", AppID: "1821152484774199",
		}}},
		{file: "bottender_standby.json", want: []messenger.Event{{
			PageID: page, Standby: true, Kind: messenger.KindMessage, SenderID: "<USER_ID>", RecipientID: page,
			Timestamp: ms(1458692752478), MID: "m_x", Text: "hello agent",
		}}},
		{file: "dashboard_test.json"},
		{file: "feed_change.json"},
		{file: "chatwoot.json", want: []messenger.Event{
			{
				PageID: "117172741761305", Kind: messenger.KindMessage, SenderID: "3383290475046708", RecipientID: "117172741761305",
				MID: "m_KXGKDUpO6xbVdAmZFBVpzU1AhKVJdAIUnUH4cwkvb_K3iZsWhowDRyJ_DcowEpJjncaBwdCIoRrixvCbbO1PcA", Text: "facebook message",
			},
			{
				PageID: "117172741761305", Kind: messenger.KindDelivery, SenderID: "3383290475046708", RecipientID: "117172741761305",
				Watermark: ms(1648581633369),
			},
			{
				PageID: "117172741761305", Kind: messenger.KindRead, SenderID: "3383290475046708", RecipientID: "117172741761305",
				Watermark: ms(1648581633369),
			},
			{
				PageID: "117172741761305", Kind: messenger.KindPostback, SenderID: "3383290475046708", RecipientID: "117172741761305",
				MID: "m_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", PostbackTitle: "Get Started", PostbackPayload: "GET_STARTED",
			},
		}},
		{file: "bottender_handover.json", want: []messenger.Event{
			{
				PageID: "1423587017700273", Kind: messenger.KindPassThreadControl, SenderID: "404217156637689", RecipientID: "1423587017700273",
				Timestamp: ms(1458692752478), NewOwnerAppID: "123456789", Metadata: "additional content that the caller wants to set",
			},
			{
				PageID: "1423587017700273", Kind: messenger.KindTakeThreadControl, SenderID: "404217156637689", RecipientID: "1423587017700273",
				Timestamp: ms(1458692752478), PreviousOwnerAppID: "123456789", Metadata: "additional content that the caller wants to set",
			},
			{
				PageID: "1423587017700273", Kind: messenger.KindRequestThreadControl, SenderID: "404217156637689", RecipientID: "1423587017700273",
				Timestamp: ms(1458692752478), RequestedOwnerAppID: "263902037430900", Metadata: "additional content that the caller wants to set",
			},
		}},
		{file: "bottender_referral_reaction.json", want: []messenger.Event{
			{
				PageID: "707356222221168", Kind: messenger.KindReferral, SenderID: "1476077111119289", RecipientID: "701111199441168",
				Timestamp: ms(1511111143921),
			},
			{
				PageID: "707356222221168", Kind: messenger.KindPostback, SenderID: "1476077422222289", RecipientID: "707356222221168",
				Timestamp: ms(1522222894827), PostbackTitle: "Get Started", PostbackPayload: "__GET_STARTED__",
			},
			{
				PageID: "707356222221168", Kind: messenger.KindReaction, SenderID: "1476077422222289", RecipientID: "707356222221168",
				Timestamp: ms(1469111400000),
				Reaction:  messenger.Reaction{Reaction: "smile", Emoji: "\u2764\ufe0f", Action: "react", MID: "mid.$cAAE1UUyiiwthh0NPrVbVf4HFNDGl"},
			},
		}},
		{file: "not_a_page.json", wantErr: messenger.ErrNotPage},
		{file: "botkit_minimal.json", wantErr: messenger.ErrNotPage}, // no "object" at all
	} {
		t.Run(tt.file, func(t *testing.T) {
			w, err := messenger.ParseWebhook(readFixture(t, tt.file))
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				require.Nil(t, w)
				return
			}
			require.NoError(t, err)
			for i := range w.Events {
				require.True(t, json.Valid(w.Events[i].Raw), "event %d Raw", i)
				w.Events[i].Raw = nil
			}
			require.Equal(t, tt.want, w.Events)
		})
	}
}

func TestParseWebhookErrors(t *testing.T) {
	for _, tt := range []struct {
		name    string
		body    string
		wantErr error
	}{
		{"empty", "", messenger.ErrMalformed},
		{"not json", "object=page", messenger.ErrMalformed},
		{"truncated", `{"object":"page","entry":[`, messenger.ErrMalformed},
		{"trailing garbage", `{"object":"page"} x`, messenger.ErrMalformed},
		{"array", `[{"object":"page"}]`, messenger.ErrMalformed},
		{"string", `"page"`, messenger.ErrMalformed},
		{"entry not an array", `{"object":"page","entry":{}}`, messenger.ErrMalformed},
		{"messaging not an array", `{"object":"page","entry":[{"messaging":"x"}]}`, messenger.ErrMalformed},
		{"too deep", `{"object":"page","entry":[{"messaging":[` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `]}]}`, messenger.ErrMalformed},
		{"null", "null", messenger.ErrNotPage},
		{"instagram", `{"object":"instagram","entry":[]}`, messenger.ErrNotPage},
		{"object case", `{"object":"Page","entry":[]}`, messenger.ErrNotPage},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w, err := messenger.ParseWebhook([]byte(tt.body))
			require.ErrorIs(t, err, tt.wantErr)
			require.Nil(t, w)
		})
	}
}

// TestParseWebhookOddEvents covers the typing traps of MESSENGER.md §2.1 and
// objects that must become KindUnknown rather than an error.
func TestParseWebhookOddEvents(t *testing.T) {
	for _, tt := range []struct {
		name  string
		event string
		want  messenger.Event
	}{
		{
			"numeric ids and string timestamp",
			`{"sender":{"id":1412611362105802},"recipient":{"id":1895382890692545},"timestamp":"1486464322190","message":{"mid":"m_1","text":"hi"}}`,
			messenger.Event{Kind: messenger.KindMessage, SenderID: "1412611362105802", RecipientID: "1895382890692545", Timestamp: ms(1486464322190), MID: "m_1", Text: "hi"},
		},
		{
			"string app_id and numeric new_owner_app_id",
			`{"sender":{"id":"1"},"recipient":{"id":"2"},"pass_thread_control":{"new_owner_app_id":263902037430900,"previous_owner_app_id":"123"}}`,
			messenger.Event{Kind: messenger.KindPassThreadControl, SenderID: "1", RecipientID: "2", NewOwnerAppID: "263902037430900", PreviousOwnerAppID: "123"},
		},
		{
			"numeric sticker_id",
			`{"sender":{"id":"1"},"message":{"mid":"m_2","attachments":[{"type":"sticker","payload":{"sticker_id":369239263222822,"url":"u"}}]}}`,
			messenger.Event{Kind: messenger.KindMessage, SenderID: "1", MID: "m_2", Attachments: []messenger.Attachment{{Type: "sticker", URL: "u"}}},
		},
		{
			"string num_edit",
			`{"sender":{"id":"1"},"message_edit":{"mid":"m_3","text":"x","num_edit":"1"}}`,
			messenger.Event{Kind: messenger.KindMessageEdit, SenderID: "1", MID: "m_3", Text: "x", NumEdit: 1},
		},
		{
			"null message is not a message",
			`{"sender":{"id":"1"},"timestamp":5,"message":null}`,
			messenger.Event{Kind: messenger.KindUnknown, SenderID: "1", Timestamp: ms(5)},
		},
		{
			"message is a string",
			`{"sender":{"id":"1"},"timestamp":5,"message":"TEST_MESSAGE"}`,
			messenger.Event{Kind: messenger.KindUnknown, SenderID: "1", Timestamp: ms(5)},
		},
		{
			"text is a number",
			`{"sender":{"id":"1"},"message":{"mid":"m","text":5}}`,
			messenger.Event{Kind: messenger.KindUnknown, SenderID: "1"},
		},
		{
			"sender id is an object",
			`{"sender":{"id":{}},"message":{"mid":"m","text":"x"}}`,
			messenger.Event{Kind: messenger.KindUnknown},
		},
		{
			"fractional timestamp",
			`{"sender":{"id":"1"},"timestamp":1.5,"message":{"mid":"m","text":"x"}}`,
			messenger.Event{Kind: messenger.KindUnknown},
		},
		{
			"account_linking",
			`{"sender":{"id":"1"},"recipient":{"id":"2"},"timestamp":7,"account_linking":{"status":"linked"}}`,
			messenger.Event{Kind: messenger.KindUnknown, SenderID: "1", RecipientID: "2", Timestamp: ms(7)},
		},
		{
			"empty object",
			`{}`,
			messenger.Event{Kind: messenger.KindUnknown},
		},
		{
			"not an object",
			`42`,
			messenger.Event{Kind: messenger.KindUnknown},
		},
		{
			"invalid utf-8 text",
			"{\"sender\":{\"id\":\"1\"},\"message\":{\"mid\":\"m\",\"text\":\"a\xffb\"}}",
			messenger.Event{Kind: messenger.KindMessage, SenderID: "1", MID: "m", Text: "a\uFFFDb"},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			body := `{"object":"page","entry":[{"id":9,"messaging":[` + tt.event + `]}]}`
			w, err := messenger.ParseWebhook([]byte(body))
			require.NoError(t, err)
			require.Len(t, w.Events, 1)
			got := w.Events[0]
			require.Equal(t, tt.event, string(got.Raw))
			got.Raw = nil
			tt.want.PageID = "9"
			require.Equal(t, tt.want, got)
		})
	}
}

func TestEventPSIDAndDedupKey(t *testing.T) {
	for _, tt := range []struct {
		name     string
		file     string
		index    int
		wantPSID string
		wantKey  string
	}{
		{"message", "reply_to.json", 0, "<PSID>", "m_1457764197618:41d102a3e1ae206a38"},
		{"echo uses recipient", "echo.json", 0, "<PSID>", "mid.1457764197618:41d102a3e1ae206a38"},
		{"postback", "postback.json", 0, "PSID", "m_MESSAGE-ID"},
		{"postback without mid", "bottender_referral_reaction.json", 1, "1476077422222289", "postback:1476077422222289:1522222894827"},
		{"referral", "referral.json", 0, "<PSID>", "referral:<PSID>:1458692752478"},
		{"delivery", "delivery.json", 0, "<PSID>", "delivery:<PSID>:1458668856253"},
		{"read", "read.json", 0, "<PSID>", "read:<PSID>:1458668856253"},
		{"string watermark", "chatwoot.json", 1, "3383290475046708", "delivery:3383290475046708:1648581633369"},
		{"reaction", "reaction.json", 0, "<PSID>", "reaction:<MID>:react"},
		{"edit", "message_edit.json", 0, "<PSID>", "message_edit:<MID>:2"},
		{"handover", "handover.json", 2, "<PSID>", "request_thread_control:<PSID>:1458692752478"},
		{"app_roles has no person", "handover.json", 3, "", "unknown::1458692752478"},
		{"policy enforcement has no person", "policy_enforcement.json", 0, "", "policy_enforcement::1458692752478"},
		{"standby", "standby.json", 0, "<PSID>", "..."},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w, err := messenger.ParseWebhook(readFixture(t, tt.file))
			require.NoError(t, err)
			e := w.Events[tt.index]
			require.Equal(t, tt.wantPSID, e.PSID())
			require.Equal(t, tt.wantKey, e.DedupKey())
		})
	}
}

func TestEventPSIDDefensive(t *testing.T) {
	for _, tt := range []struct {
		name string
		e    messenger.Event
		want string
	}{
		{"inbound", messenger.Event{PageID: "P", SenderID: "U", RecipientID: "P"}, "U"},
		{"page-sent non-echo", messenger.Event{PageID: "P", SenderID: "P", RecipientID: "U"}, "U"},
		{"echo", messenger.Event{PageID: "P", Kind: messenger.KindEcho, SenderID: "P", RecipientID: "U"}, "U"},
		{"echo without page id", messenger.Event{Kind: messenger.KindEcho, SenderID: "1", RecipientID: "2"}, "2"},
		{"neither side is the page", messenger.Event{PageID: "P", SenderID: "U", RecipientID: "X"}, "U"},
		{"no sender", messenger.Event{PageID: "P", RecipientID: "P"}, ""},
		{"nothing", messenger.Event{}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, tt.e.PSID())
		})
	}
}

func TestDedupKeyWithoutTimestamp(t *testing.T) {
	w, err := messenger.ParseWebhook([]byte(`{"object":"page","entry":[{"messaging":[{"message":"A"},{"message":"B"},{"message":"A"}]}]}`))
	require.NoError(t, err)
	require.Len(t, w.Events, 3)
	a, b, a2 := w.Events[0].DedupKey(), w.Events[1].DedupKey(), w.Events[2].DedupKey()
	require.NotEqual(t, a, b)
	require.Equal(t, a, a2)
	require.True(t, strings.HasPrefix(a, "unknown::sha256:"), a)
}
