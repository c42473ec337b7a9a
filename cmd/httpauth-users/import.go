package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/gohttpauth/httpauth"
	"github.com/gohttpauth/httpauth/sqlstore"
)

// importRow is one user to import. Hashes are kept verbatim.
type importRow struct {
	line      int
	Login     string `json:"login"`
	Hash      string `json:"hash"`
	Confirmed bool   `json:"confirmed"`
	Roles     roles  `json:"roles"`
}

// roles reads a JSON array of strings, or one string of roles separated
// by commas, semicolons or spaces (the CSV spelling).
type roles []string

func (r *roles) UnmarshalJSON(b []byte) error {
	var list []string
	if err := json.Unmarshal(b, &list); err == nil {
		*r = list
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New("roles must be a list of strings or a string")
	}
	*r = splitRoles(s)
	return nil
}

func splitRoles(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ';' || r == ' ' })
}

// importCounts is one line of the report.
type importCounts struct{ imported, existing, refused int }

// importUsers is the import command: it reads CSV (with a header naming
// login and hash, and optionally confirmed and roles) or JSON lines, and
// creates every user whose login is not taken and whose hash the default
// hasher can verify.
func importUsers(ctx context.Context, store *sqlstore.Store[sqlstore.User], args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	dryRun := fs.Bool("dry-run", false, "check and report, change nothing")
	format := fs.String("format", "", "csv or jsonl (default: from the file name, else from the first character)")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("%w: import [-dry-run] [-format csv|jsonl] FILE|-", errUsage)
	}
	var in io.Reader = stdin
	name := fs.Arg(0)
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	br := bufio.NewReader(in)
	switch {
	case *format == "" && (strings.HasSuffix(name, ".csv")):
		*format = "csv"
	case *format == "" && (strings.HasSuffix(name, ".jsonl") || strings.HasSuffix(name, ".json") || strings.HasSuffix(name, ".ndjson")):
		*format = "jsonl"
	case *format == "":
		*format = "csv"
		if b, err := br.Peek(64); len(b) > 0 && (err == nil || err == io.EOF) && bytes.HasPrefix(bytes.TrimLeft(b, " \t\r\n\ufeff"), []byte("{")) {
			*format = "jsonl"
		}
	}
	var rows []importRow
	var err error
	switch *format {
	case "csv":
		rows, err = readCSV(br)
	case "jsonl":
		rows, err = readJSONLines(br)
	default:
		return fmt.Errorf("%w: -format must be csv or jsonl", errUsage)
	}
	if err != nil {
		return err
	}

	report := map[string]*importCounts{}
	count := func(scheme string) *importCounts {
		if report[scheme] == nil {
			report[scheme] = &importCounts{}
		}
		return report[scheme]
	}
	refused := 0
	for _, r := range rows {
		scheme, err := httpauth.CheckPasswordHash(r.Hash)
		if r.Login == "" {
			err = errors.New("empty login")
		}
		if err != nil {
			count(scheme).refused++
			refused++
			// The error names the format and the reason, never the hash.
			fmt.Fprintf(stderr, "line %d: %s: refused: %v\n", r.line, strconv.Quote(r.Login), err)
			continue
		}
		_, err = store.UserByLogin(ctx, r.Login)
		switch {
		case err == nil:
			count(scheme).existing++
			continue
		case !errors.Is(err, httpauth.ErrUserNotFound):
			return fmt.Errorf("line %d: %w", r.line, err)
		}
		if *dryRun {
			count(scheme).imported++
			continue
		}
		_, err = store.CreateUser(ctx, sqlstore.NewUser{Login: r.Login, PasswordHash: r.Hash, Confirmed: r.Confirmed, Roles: r.Roles})
		switch {
		case errors.Is(err, httpauth.ErrAccountExists): // a duplicate row, or a concurrent add
			count(scheme).existing++
		case err != nil:
			return fmt.Errorf("line %d: %s: %w", r.line, strconv.Quote(r.Login), err)
		default:
			count(scheme).imported++
		}
	}

	schemes := make([]string, 0, len(report))
	for s := range report {
		schemes = append(schemes, s)
	}
	sort.Strings(schemes)
	verb := "imported"
	if *dryRun {
		verb = "would import"
		fmt.Fprintln(stdout, "dry run: nothing changed")
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "format\t%s\texisting (skipped)\trefused\n", verb)
	var total importCounts
	for _, s := range schemes {
		c := report[s]
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\n", s, c.imported, c.existing, c.refused)
		total.imported += c.imported
		total.existing += c.existing
		total.refused += c.refused
	}
	fmt.Fprintf(tw, "total\t%d\t%d\t%d\n", total.imported, total.existing, total.refused)
	if err := tw.Flush(); err != nil {
		return err
	}
	if refused > 0 {
		return fmt.Errorf("%d row(s) refused (see above); the others were %s", refused, map[bool]string{true: "checked", false: "imported"}[*dryRun])
	}
	return nil
}

func readCSV(r io.Reader) ([]importRow, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("csv header: %w", err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))] = i
	}
	for _, need := range []string{"login", "hash"} {
		if _, ok := col[need]; !ok {
			return nil, fmt.Errorf("csv header must name login and hash (and may name confirmed and roles), got %q", header)
		}
	}
	field := func(rec []string, name string) string {
		if i, ok := col[name]; ok && i < len(rec) {
			return rec[i]
		}
		return ""
	}
	var rows []importRow
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return rows, nil
		}
		if err != nil {
			return nil, err
		}
		line, _ := cr.FieldPos(0)
		row := importRow{line: line, Login: field(rec, "login"), Hash: field(rec, "hash"), Roles: splitRoles(field(rec, "roles"))}
		if c := strings.TrimSpace(field(rec, "confirmed")); c != "" {
			if row.Confirmed, err = parseBool(c); err != nil {
				return nil, fmt.Errorf("line %d: confirmed: %w", line, err)
			}
		}
		rows = append(rows, row)
	}
}

func parseBool(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "1", "t", "true", "yes", "y":
		return true, nil
	case "0", "f", "false", "no", "n":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean", s)
}

func readJSONLines(r io.Reader) ([]importRow, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	var rows []importRow
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var row importRow
		if err := json.Unmarshal(line, &row); err != nil { // other fields are ignored
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		row.line = n
		rows = append(rows, row)
	}
	return rows, sc.Err()
}
