// Package knowledge turns the documents a business uploads into passages the
// bot can cite, and finds the passages that answer a question.
//
// The building blocks are pure, each in its own file: extract*.go reads the
// text of PDF, DOCX, HTML, Markdown, CSV and plain-text files, treating every
// upload as hostile; chunk.go cuts that text into overlapping passages that
// stay inside one section; lexical.go is an in-memory BM25 index; fusion.go
// merges ranked lists and compares embedding vectors. They touch neither the
// database nor the network.
//
// [Service] puts them to work on the database: service.go stores texts, FAQs
// and uploads; ingest.go is the background pipeline that extracts, chunks and
// embeds uploaded files (claimed with a lease, so replicas share the work and
// a crash loses nothing); retrieve.go keeps a per-agent retrieval index in
// memory, checks it against the database before every search, fuses BM25
// with embedding similarity, and asks the responder for a cited answer.
package knowledge
