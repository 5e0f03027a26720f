package harness_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seachat/seachat/bench/harness"
)

func TestSections(t *testing.T) {
	for _, tt := range []struct {
		name, doc, section, want string
	}{
		{"appended", "# R\n\ntext\n", "", "# R\n\ntext\n\n## Answer quality\nnew\n"},
		{"replaced at the end", "# R\n\n## Answer quality\nold\nold\n", "## Answer quality\nold\nold\n", "# R\n\n## Answer quality\nnew\n"},
		{"replaced in the middle", "# R\n## Answer quality\nold\n## Next\nkept\n", "## Answer quality\nold\n",
			"# R\n## Answer quality\nnew\n\n## Next\nkept\n"},
		{"subsections go with it", "## Answer quality\nold\n### sub\nold\n## Next\n", "## Answer quality\nold\n### sub\nold\n",
			"## Answer quality\nnew\n\n## Next\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.section, harness.Section(tt.doc, "## Answer quality"))
			require.Equal(t, tt.want, harness.ReplaceSection(tt.doc, "## Answer quality", "## Answer quality\nnew\n"))
		})
	}
}
