package explain

import (
	"fmt"
	"html"
	"io"
	"math"
	"sort"
	"strings"
	"text/tabwriter"

	"coldstart/internal/duration"
)

// DefaultTop is how many rows the writers show by default.
const DefaultTop = 20

// WriteText writes the top rows (0: DefaultTop) as an aligned table.
func WriteText(w io.Writer, r *Report, top int) error {
	var b strings.Builder
	header(&b, r, false)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "growth/iter\t%s\t%s\tcalls\tself growth\t\n", short(columns(r)[0]), short(columns(r)[1]))
	for _, row := range rows(r, top) {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t  %s%s\n", signed(row.Growth), figure(row.Base), figure(row.New),
			calls(row), signed(row.SelfGrowth), pretty(row.Path), waitMark(row))
	}
	tw.Flush()
	footer(&b, r, false)
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteMarkdown writes the top rows (0: DefaultTop) as a markdown table.
func WriteMarkdown(w io.Writer, r *Report, top int) error {
	var b strings.Builder
	fmt.Fprintf(&b, "### Where `%s` spends its time in the kernel\n\n", r.Scenario)
	header(&b, r, true)
	fmt.Fprintf(&b, "| growth/iter | %s | %s | calls | self growth | call path |\n", mdEsc(columns(r)[0]), mdEsc(columns(r)[1]))
	b.WriteString("|---:|---:|---:|---:|---:|:---|\n")
	for _, row := range rows(r, top) {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | `%s`%s |\n", signed(row.Growth), figure(row.Base), figure(row.New),
			calls(row), signed(row.SelfGrowth), pretty(row.Path), waitMark(row))
	}
	b.WriteString("\n")
	footer(&b, r, true)
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteHTML writes the report as a self-contained HTML fragment (no
// scripts, no network) for a page: the header lines, the top rows (0:
// DefaultTop) as a table, the icicle chart of every path and the notes, in
// a <div class="explain">.
func WriteHTML(w io.Writer, r *Report, top int) error {
	var b strings.Builder
	e := html.EscapeString
	var head strings.Builder
	header(&head, r, false)
	lines := strings.Split(strings.TrimSpace(head.String()), "\n")
	fmt.Fprintf(&b, `<div class="explain" data-scenario="%s">`+"\n"+`<p class="explain-head">`, e(r.Scenario))
	for i, l := range lines[1:] { // lines[0] is the title, which the page gives
		if i > 0 {
			b.WriteString("<br>")
		}
		b.WriteString(e(l))
	}
	b.WriteString("</p>\n")
	fmt.Fprintf(&b, `<table class="explain"><tr><th>growth/iter</th><th>%s</th><th>%s</th><th>calls</th><th>self growth</th><th>call path</th></tr>`+"\n",
		e(columns(r)[0]), e(columns(r)[1]))
	for _, row := range rows(r, top) {
		cls := "same"
		switch {
		case row.Growth > 0:
			cls = "grew"
		case row.Growth < 0:
			cls = "shrank"
		}
		if row.Waits {
			cls += " waits"
		}
		fmt.Fprintf(&b, `<tr class="%s"><td class="num">%s</td><td class="num">%s</td><td class="num">%s</td><td class="num">%s</td><td class="num">%s</td><td><code>%s</code>%s</td></tr>`+"\n",
			cls, e(signed(row.Growth)), e(figure(row.Base)), e(figure(row.New)), e(calls(row)), e(signed(row.SelfGrowth)), e(pretty(row.Path)), e(waitMark(row)))
	}
	b.WriteString("</table>\n")
	b.WriteString(SVG(r))
	var foot strings.Builder
	footer(&foot, r, false)
	if f := strings.TrimSpace(foot.String()); f != "" {
		b.WriteString(`<ul class="explain-notes">`)
		for _, l := range strings.Split(f, "\n") {
			fmt.Fprintf(&b, "<li>%s</li>", e(strings.TrimPrefix(l, "note: ")))
		}
		b.WriteString("</ul>\n")
	}
	b.WriteString("</div>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// Label is "kernel (release)", or the kernel alone when the release is
// not known.
func Label(kernel, release string) string {
	if release == "" {
		return kernel
	}
	return kernel + " (" + release + ")"
}

// columns names the two sides' columns: the kernels, or "base" and "new"
// when both runs are of one kernel (a baseline and a new run).
func columns(r *Report) [2]string {
	if r.Base.Kernel == r.New.Kernel {
		return [2]string{"base", "new"}
	}
	return [2]string{r.Base.Kernel, r.New.Kernel}
}

func header(b *strings.Builder, r *Report, md bool) {
	bullet := ""
	if md {
		bullet = "- "
	}
	if !md {
		fmt.Fprintf(b, "%s: where the kernel time went\n", r.Scenario)
	}
	fmt.Fprintf(b, "%sbase %s, new %s\n", bullet, Label(r.Base.Kernel, r.Base.Release), Label(r.New.Kernel, r.New.Release))
	if r.Base.WallMedianNS > 0 && r.New.WallMedianNS > 0 {
		d := r.New.WallMedianNS - r.Base.WallMedianNS
		fmt.Fprintf(b, "%stimed wall median (untraced): %s -> %s (%s, %+.1f%%)\n", bullet,
			duration.Format(r.Base.WallMedianNS), duration.Format(r.New.WallMedianNS), signed(d), 100*d/r.Base.WallMedianNS)
	}
	fmt.Fprintf(b, "%straced: %d iterations in %d boots / %d iterations in %d boots; tracing off while timing: %s / %s\n", bullet,
		r.Base.Iterations, r.Base.Boots, r.New.Iterations, r.New.Boots, yes(r.Base.Untraced), yes(r.New.Untraced))
	if c := r.Culprit; c != nil {
		fmt.Fprintf(b, "%sown time grew most in %s: %s per iteration (%s -> %s)\n", bullet,
			code(pretty(c.Path), md), signed(c.SelfGrowth), duration.Format(c.Base.Self), duration.Format(c.New.Self))
	}
	if len(r.Waits) > 0 {
		var where []string
		for i, w := range r.Waits {
			if i == 2 {
				where = append(where, fmt.Sprintf("%d more", len(r.Waits)-i))
				break
			}
			s := code(pretty(w.Path), md)
			if len(r.Waits) > 1 {
				s += " " + signed(w.Growth)
			}
			where = append(where, s)
		}
		fmt.Fprintf(b, "%snot ranked: %s per iteration spent waiting for traced tasks, in %s: a parent sleeps there until its child exits (or execs, after a vfork), so that time is the child's, whose own paths are ranked instead\n",
			bullet, signed(r.WaitGrowth), strings.Join(where, ", "))
	}
	b.WriteString("\n")
}

func footer(b *strings.Builder, r *Report, md bool) {
	if len(r.Rows) > 0 {
		fmt.Fprintf(b, "%d call paths in all; times are medians per traced iteration, inclusive (sleeps included); calls are means; \"-\": not seen; \"+\": some calls never returned (a lower bound).\n", len(r.Rows))
	}
	if len(r.Waits) > 0 {
		if md {
			b.WriteString("- ")
		}
		fmt.Fprintf(b, "note: %q: asleep until another traced task (a child) exits or execs, in do_wait (wait4, waitid) or after a vfork; that time is the other task's, so it is listed but not ranked, and its callers rank by their growth without it (%q).\n",
			strings.TrimSpace(waitsMark), "[... of it waiting]")
	}
	for _, n := range r.Notes {
		if md {
			b.WriteString("- ")
		}
		fmt.Fprintf(b, "note: %s\n", n)
	}
}

// rows are the top ranked rows (0: DefaultTop), then the waits for
// traced tasks that did not make it, which are never ranked but always
// shown.
func rows(r *Report, top int) []Row {
	if top <= 0 {
		top = DefaultTop
	}
	if top > len(r.Rows) {
		top = len(r.Rows)
	}
	out := r.Rows[:top:top]
	shown := map[string]bool{}
	for _, row := range out {
		shown[row.Path] = true
	}
	for _, w := range r.Waits {
		if !shown[w.Path] {
			out = append(out, *w)
		}
	}
	return out
}

// waitsMark follows the path of a row that waits for a traced task.
const waitsMark = "  [waits for a traced task]"

// waitMark is what follows a row's path: waitsMark for a wait, the growth
// of the waits beneath it for a caller of one, "" otherwise.
func waitMark(row Row) string {
	switch {
	case row.Waits:
		return waitsMark
	case row.WaitGrowth != 0:
		return "  [" + signed(row.WaitGrowth) + " of it waiting]"
	}
	return ""
}

// pretty renders a path with arrows: "a > b > c".
func pretty(path string) string { return strings.ReplaceAll(path, ";", " > ") }

func code(s string, md bool) string {
	if md {
		return "`" + s + "`"
	}
	return s
}

func calls(row Row) string {
	c := func(f Figures) string {
		if !f.Present {
			return "-"
		}
		return trim(fmt.Sprintf("%.2f", f.Calls))
	}
	return c(row.Base) + "->" + c(row.New)
}

func trim(s string) string {
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

func figure(f Figures) string {
	if !f.Present {
		return "-"
	}
	s := duration.Format(f.NS)
	if f.Open {
		s += "+" // a lower bound: some calls never returned
	}
	return s
}

func signed(ns float64) string {
	if ns >= 0 {
		return "+" + duration.Format(ns)
	}
	return "-" + duration.Format(-ns)
}

func yes(b bool) string {
	if b {
		return "yes"
	}
	return "NO"
}

func short(s string) string {
	if len(s) > 24 {
		return s[:24]
	}
	return s
}

func mdEsc(s string) string { return strings.ReplaceAll(s, "|", "\\|") }

// Icicle chart geometry.
const (
	svgWidth  = 960.0
	svgRow    = 18.0
	svgTop    = 34.0
	svgMargin = 4.0
)

// SVG renders the report as an icicle chart: roots on top, callees below,
// each box as wide as its larger inclusive time per iteration in either
// kernel, red where the new kernel spends more, blue where less; hovering
// shows both figures. It is a self-contained <svg> element for the HTML
// report.
func SVG(r *Report) string {
	type node struct {
		row      *Row
		children []*node
		w        float64
	}
	byPath := map[string]*node{}
	for i := range r.Rows {
		byPath[r.Rows[i].Path] = &node{row: &r.Rows[i], w: math.Max(r.Rows[i].Base.NS, r.Rows[i].New.NS)}
	}
	var roots []*node
	depth := 0
	for p, n := range byPath {
		depth = max(depth, n.row.Depth+1)
		if i := strings.LastIndexByte(p, ';'); i >= 0 {
			if parent := byPath[p[:i]]; parent != nil {
				parent.children = append(parent.children, n)
				continue
			}
		}
		roots = append(roots, n)
	}
	order := func(ns []*node) {
		sort.Slice(ns, func(i, j int) bool {
			if ns[i].w != ns[j].w {
				return ns[i].w > ns[j].w
			}
			return ns[i].row.Path < ns[j].row.Path
		})
	}
	total := 0.0
	for _, n := range roots {
		total += n.w
	}
	order(roots)
	height := svgTop + float64(depth)*svgRow + 2*svgMargin
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="icicle" xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="sans-serif" font-size="11">`+"\n",
		svgWidth, height, svgWidth, height)
	fmt.Fprintf(&b, `<text x="%.0f" y="14" font-size="13">%s: kernel call paths, %s vs %s (width: time per iteration; red: grew, blue: shrank)</text>`+"\n",
		svgMargin, html.EscapeString(r.Scenario), html.EscapeString(columns(r)[0]), html.EscapeString(columns(r)[1]))
	if total <= 0 {
		b.WriteString("</svg>\n")
		return b.String()
	}
	scale := (svgWidth - 2*svgMargin) / total
	var draw func(ns []*node, x, avail float64)
	draw = func(ns []*node, x, avail float64) {
		order(ns)
		sum := 0.0
		for _, n := range ns {
			sum += n.w
		}
		k := scale
		if sum*scale > avail && sum > 0 {
			k = avail / sum // callees measured on the other kernel may overflow
		}
		for _, n := range ns {
			w := n.w * k
			if w >= 0.5 {
				y := svgTop + float64(n.row.Depth)*svgRow
				fmt.Fprintf(&b, `<g><title>%s%s&#10;%s: %s&#10;%s: %s&#10;growth %s per iteration (own time %s)</title>`,
					html.EscapeString(pretty(n.row.Path)), html.EscapeString(waitMark(*n.row)), html.EscapeString(r.Base.Kernel), figure(n.row.Base),
					html.EscapeString(r.New.Kernel), figure(n.row.New), signed(n.row.Growth), signed(n.row.SelfGrowth))
				fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s" stroke="#fff" stroke-width="0.5"/>`,
					x, y, w, svgRow-1, color(n.row))
				if w > 30 {
					label := n.row.Func
					if max := int(w / 6.5); len(label) > max {
						label = label[:max-1] + "…"
					}
					fmt.Fprintf(&b, `<text x="%.1f" y="%.1f">%s</text>`, x+2, y+12, html.EscapeString(label))
				}
				b.WriteString("</g>\n")
				draw(n.children, x, w)
			}
			x += w
		}
	}
	draw(roots, svgMargin, svgWidth-2*svgMargin)
	b.WriteString("</svg>\n")
	return b.String()
}

// WriteSVG writes SVG(r).
func WriteSVG(w io.Writer, r *Report) error {
	_, err := io.WriteString(w, SVG(r))
	return err
}

// color maps a path's relative growth to red (grew) or blue (shrank).
func color(row *Row) string {
	base := math.Max(row.Base.NS, 1)
	rel := row.Growth / base
	if !row.Base.Present {
		rel = 1
	}
	if !row.New.Present {
		rel = -1
	}
	t := math.Min(math.Abs(rel), 1)
	light := func(full int) int { return 235 - int(float64(235-full)*t) }
	if rel >= 0 {
		return fmt.Sprintf("rgb(%d,%d,%d)", 240, light(80), light(60))
	}
	return fmt.Sprintf("rgb(%d,%d,%d)", light(70), light(130), 240)
}
