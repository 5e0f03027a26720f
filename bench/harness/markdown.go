package harness

import "strings"

// Section returns the section of doc that starts with the line heading, up
// to the next heading of the same level, or "" when doc has none.
func Section(doc, heading string) string {
	start, end := sectionBounds(doc, heading)
	if start < 0 {
		return ""
	}
	lines := strings.SplitAfter(doc, "\n")
	return strings.TrimRight(strings.Join(lines[start:end], ""), "\n") + "\n"
}

// sectionBounds returns the line range of the section of doc that starts
// with the line heading; start is -1 when there is none.
func sectionBounds(doc, heading string) (start, end int) {
	lines := strings.SplitAfter(doc, "\n")
	level := heading[:strings.IndexByte(heading, ' ')+1]
	start, end = -1, len(lines)
	for i, l := range lines {
		t := strings.TrimRight(l, "\n")
		switch {
		case start < 0 && t == heading:
			start = i
		case start >= 0 && strings.HasPrefix(t, level):
			return start, i
		}
	}
	return start, end
}

// ReplaceSection replaces the section of doc that starts with the line
// heading, up to the next heading of the same level, with section; it is
// appended when doc has no such section.
func ReplaceSection(doc, heading, section string) string {
	section = strings.TrimRight(section, "\n") + "\n"
	lines := strings.SplitAfter(doc, "\n")
	start, end := sectionBounds(doc, heading)
	if start < 0 {
		return strings.TrimRight(doc, "\n") + "\n\n" + section
	}
	rest := strings.Join(lines[end:], "")
	if rest != "" {
		section += "\n"
	}
	return strings.Join(lines[:start], "") + section + rest
}
