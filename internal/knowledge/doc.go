// Package knowledge turns the documents a business uploads into passages the
// bot can cite, and finds the passages that answer a question.
//
// The building blocks are pure, each in its own file: extract*.go reads the
// text of PDF, DOCX, HTML, Markdown, CSV and plain-text files, treating every
// upload as hostile; chunk.go cuts that text into overlapping passages that
// stay inside one section; lexical.go is an in-memory BM25 index; fusion.go
// merges ranked lists and compares embedding vectors. They touch neither the
// database nor the network.
package knowledge
