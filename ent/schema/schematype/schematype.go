// Package schematype holds the Go types stored in JSON columns of the ent
// schema. It is a leaf so that generated ent code can import it.
package schematype

// Attachment is a media item of a Messenger message.
type Attachment struct {
	Type string `json:"type"`
	URL  string `json:"url,omitempty"`
}

// Citation points a bot answer at the knowledge it was built from.
type Citation struct {
	SourceID int     `json:"sourceId"`
	Snippet  string  `json:"snippet"`
	Score    float64 `json:"score"`
}
