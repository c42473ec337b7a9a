package httpauth

import (
	"go/ast"
	"go/parser"
	"go/token"
	"strconv"
	"strings"
	"testing"
)

// TestEventReasonDocListsEveryReason keeps Event.Reason's documentation,
// the only public list of reasons, in step with the reason constants.
func TestEventReasonDocListsEveryReason(t *testing.T) {
	t.Parallel()
	f, err := parser.ParseFile(token.NewFileSet(), "events.go", nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	var doc string
	reasons := map[string]bool{}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.ValueSpec:
			for i, name := range n.Names {
				if strings.HasPrefix(name.Name, "reason") && i < len(n.Values) {
					if lit, ok := n.Values[i].(*ast.BasicLit); ok {
						v, _ := strconv.Unquote(lit.Value)
						reasons[v] = true
					}
				}
			}
		case *ast.TypeSpec:
			if st, ok := n.Type.(*ast.StructType); ok && n.Name.Name == "Event" {
				for _, field := range st.Fields.List {
					if len(field.Names) == 1 && field.Names[0].Name == "Reason" {
						doc = field.Doc.Text()
					}
				}
			}
		}
		return true
	})
	if len(reasons) < 20 || doc == "" {
		t.Fatalf("found %d reasons and doc %q: the parse is broken", len(reasons), doc)
	}
	doc = strings.Join(strings.Fields(doc), " ")
	for r := range reasons {
		if !strings.Contains(doc, strconv.Quote(r)) {
			t.Errorf("Event.Reason's doc does not list %q", r)
		}
	}
}
