package compare

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"strings"

	"coldstart/harness/results"
	"coldstart/internal/duration"
	"coldstart/stats"
)

// Page is what the HTML report shows: per scenario, one chart with the
// kernels in version order, each with its baseline beside it.
type Page struct {
	Title     string
	Subtitle  string
	Metric    string
	Kernels   []string
	Scenarios []string
	// Cells[scenario][kernel]
	Cells map[string]map[string]*Cell
	// Explains[scenario] are where the kernel time went (package
	// explain): a table and an icicle chart each.
	Explains map[string][]PageExplain
	Summary  string
	Notes    []string
}

// Cell is one kernel and scenario.
type Cell struct {
	New, Base *Series
	Verdict   stats.Verdict
	Note      string
	Change    string // "+12.3% [+5.1%, +20.0%]"
}

// Series is one side's numbers, as drawn.
type Series struct {
	Kernel      string
	Status      string
	Reason      string
	Median      float64
	CI          stats.Interval // of the median of per-boot medians
	BootMedians []float64
	Pooled      stats.Summary
}

func seriesOf(s *Side, level float64, seed uint64) *Series {
	if s == nil || s.Status == string(Missing) {
		return nil
	}
	return &Series{Kernel: s.Kernel, Status: s.Status, Reason: s.Reason, Median: s.Median,
		CI: stats.MedianCI(s.BootMedians, level, 0, seed), BootMedians: s.BootMedians, Pooled: s.Pooled}
}

// PageFromReport lays out a comparison for the HTML page.
func PageFromReport(r *Report) *Page {
	p := &Page{Title: "coldstart: " + r.Summary(), Subtitle: header(r), Metric: r.Metric,
		Cells: map[string]map[string]*Cell{}, Summary: r.Summary(), Notes: append(gateLines(r), r.Notes...)}
	seenK, seenS := map[string]bool{}, map[string]bool{}
	for _, row := range r.Rows {
		if !seenK[row.Kernel] {
			seenK[row.Kernel] = true
			p.Kernels = append(p.Kernels, row.Kernel)
		}
		if !seenS[row.Scenario] {
			seenS[row.Scenario] = true
			p.Scenarios = append(p.Scenarios, row.Scenario)
		}
		if p.Cells[row.Scenario] == nil {
			p.Cells[row.Scenario] = map[string]*Cell{}
		}
		c := &Cell{New: seriesOf(row.New, r.Level, 1), Base: seriesOf(row.Base, r.Level, 1), Verdict: row.Verdict, Note: row.Note}
		if row.Boot != nil {
			c.Change = strings.TrimSpace(change(row.Boot.Ratio) + " " + interval(row.Boot) + " " + pval(row.Boot))
		}
		p.Cells[row.Scenario][row.Kernel] = c
	}
	p.AddExplanations(withTraces(Explain(r, ExplainOptions{Verdicts: []stats.Verdict{stats.Regressed}})))
	return p
}

// Matrix compares each run file with its kernel's baseline, when there is
// one, and returns the rows of all kernels in version order; kernels
// without a baseline get rows with the new side only and verdict Missing.
func Matrix(files, baselines []*results.File, o Options) *Report {
	SortByVersion(files)
	r := &Report{Metric: o.Metric, Alpha: o.Alpha, Level: o.Level, NewFiles: files, BaseFiles: baselines}
	base := map[string]*results.File{}
	for _, b := range baselines {
		base[b.Kernel.Name] = b
	}
	for _, f := range files {
		if b, ok := base[f.Kernel.Name]; ok {
			rows, notes, _ := comparePair(b, f, o)
			r.Rows = append(r.Rows, rows...)
			r.Notes = append(r.Notes, notes...)
			continue
		}
		names := map[string]bool{}
		for n := range f.Scenarios {
			names[n] = true
		}
		for _, n := range scenarioOrder(names, f) {
			s := side(f, n, o.Metric)
			v, note := Missing, "no baseline"
			switch s.Status {
			case results.StatusUnsupported:
				v, note = Unsupported, s.Reason
			case results.StatusFailed:
				v, note = Failed, "failed: "+s.Reason
			}
			r.Rows = append(r.Rows, Row{Kernel: f.Kernel.Name, Scenario: n, Verdict: v, Note: note, New: s, Threshold: o.ThresholdFor(n)})
		}
	}
	return r
}

// chart geometry
const (
	chartW, chartH     = 760, 260
	padL, padR         = 70, 10
	padT, padB         = 24, 46
	slotGap            = 0.12
	boxHalf            = 9
	colBase, colNew    = "#8a8f98", "#2b6cb0"
	colRegr, colImprov = "#c53030", "#2f855a"
)

type svgBuilder struct{ strings.Builder }

func (b *svgBuilder) f(format string, a ...any) { fmt.Fprintf(&b.Builder, format, a...) }

// niceTicks returns about n round tick values from 0 to max.
func niceTicks(max float64, n int) []float64 {
	if max <= 0 || math.IsNaN(max) {
		return []float64{0}
	}
	raw := max / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	var t []float64
	for v := 0.0; v <= max*1.0001; v += step {
		t = append(t, v)
	}
	return t
}

func esc(s string) string { return template.HTMLEscapeString(s) }

// chartSVG draws one scenario: per kernel, the baseline (grey, left) and the
// new run (blue, or red when regressed, green when improved): box = pooled
// p25-p75, whiskers p5-p95, dots = per-boot medians, bar = median with its
// 95% interval.
func chartSVG(p *Page, scenario string) template.HTML {
	cells := p.Cells[scenario]
	ymax := 0.0
	for _, c := range cells {
		for _, s := range []*Series{c.New, c.Base} {
			if s == nil || s.Status != "ok" || s.Pooled.N == 0 {
				continue
			}
			for _, v := range append([]float64{s.Pooled.P95, s.CI.Hi}, s.BootMedians...) {
				if !math.IsNaN(v) {
					ymax = math.Max(ymax, v)
				}
			}
		}
	}
	ticks := niceTicks(ymax*1.05, 4)
	top := ticks[len(ticks)-1]
	if top <= 0 {
		top = 1
	}
	plotW := float64(chartW - padL - padR)
	plotH := float64(chartH - padT - padB)
	y := func(v float64) float64 { return float64(padT) + plotH*(1-math.Min(v, top)/top) }
	var b svgBuilder
	b.f(`<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="%s">`,
		chartW, chartH, chartW, chartH, esc(scenario))
	for _, t := range ticks {
		b.f(`<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" class="grid"/>`, padL, chartW-padR, y(t), y(t))
		b.f(`<text x="%d" y="%.1f" class="tick" text-anchor="end">%s</text>`, padL-6, y(t)+4, esc(duration.Format(t)))
	}
	slot := plotW / float64(max(1, len(p.Kernels)))
	for i, k := range p.Kernels {
		cx := float64(padL) + slot*(float64(i)+0.5)
		label := k
		if len([]rune(label)) > 22 {
			label = string([]rune(label)[:21]) + "…"
		}
		b.f(`<text x="%.1f" y="%d" class="klabel" text-anchor="middle">%s</text>`, cx, chartH-padB+16, esc(label))
		c := cells[k]
		if c == nil {
			continue
		}
		off := math.Min(slot*0.22, 28)
		drawSeries(&b, c.Base, cx-off, colBase, y)
		col := colNew
		switch c.Verdict {
		case stats.Regressed:
			col = colRegr
		case stats.Improved:
			col = colImprov
		}
		drawSeries(&b, c.New, cx+off, col, y)
		mark := string(c.Verdict)
		if c.Verdict == stats.Regressed {
			mark = "▲ regressed"
		} else if c.Verdict == stats.Improved {
			mark = "▼ improved"
		}
		b.f(`<text x="%.1f" y="%d" class="verdict v-%s" text-anchor="middle">%s</text>`, cx, chartH-padB+32, esc(string(c.Verdict)), esc(mark))
		if c.New != nil && c.New.Status != "ok" {
			b.f(`<text x="%.1f" y="%.1f" class="status" text-anchor="middle">%s</text>`, cx, float64(padT)+plotH/2, esc(c.New.Status))
		}
		b.f(`<title>%s</title>`, esc(k+" "+scenario+": "+string(c.Verdict)+" "+c.Change+" "+c.Note))
	}
	b.f(`<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" class="axis"/>`, padL, chartW-padR, y(0), y(0))
	b.f(`</svg>`)
	return template.HTML(b.String()) // built from escaped parts only
}

func drawSeries(b *svgBuilder, s *Series, x float64, col string, y func(float64) float64) {
	if s == nil || s.Status != "ok" || s.Pooled.N == 0 {
		return
	}
	q := s.Pooled
	b.f(`<g class="series"><title>%s: median %s, 95%% CI [%s, %s], %d boots, %d samples, p5-p95 %s-%s</title>`,
		esc(s.Kernel), duration.Format(s.Median), duration.Format(s.CI.Lo), duration.Format(s.CI.Hi), len(s.BootMedians), q.N, duration.Format(q.P05), duration.Format(q.P95))
	b.f(`<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="%s" class="whisker"/>`, x, x, y(q.P05), y(q.P95), col)
	b.f(`<rect x="%.1f" y="%.1f" width="%d" height="%.1f" fill="%s" class="box"/>`, x-boxHalf, y(q.P75), 2*boxHalf, math.Max(1, y(q.P25)-y(q.P75)), col)
	for i, m := range s.BootMedians {
		jit := (float64(i%5) - 2) * 2.2
		b.f(`<circle cx="%.1f" cy="%.1f" r="2.2" fill="%s" class="boot"/>`, x+boxHalf+5+jit, y(m), col)
	}
	if !math.IsNaN(s.CI.Lo) {
		b.f(`<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="%s" class="ci"/>`, x-boxHalf-4, x-boxHalf-4, y(s.CI.Lo), y(s.CI.Hi), col)
	}
	b.f(`<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="%s" class="median"/></g>`, x-boxHalf-8, x+boxHalf, y(s.Median), y(s.Median), col)
}

var pageTmpl = template.Must(template.New("page").Funcs(template.FuncMap{
	"chart":    func(p *Page, s string) template.HTML { return chartSVG(p, s) },
	"cell":     func(p *Page, s, k string) *Cell { return p.Cells[s][k] },
	"explains": func(p *Page, s string) []PageExplain { return p.Explains[s] },
	"duration": duration.Format,
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#1a202c;background:#fff}
h1{font-size:20px;margin:0 0 4px} h2{font-size:16px;margin:28px 0 4px}
.sub{color:#4a5568;margin:0 0 12px} .legend span{margin-right:16px}
.sw{display:inline-block;width:12px;height:12px;vertical-align:middle;margin-right:4px}
svg.chart{max-width:100%;height:auto;background:#fafbfc;border:1px solid #e2e8f0}
.grid{stroke:#e2e8f0} .axis{stroke:#718096} .tick,.klabel{font-size:11px;fill:#4a5568}
.verdict{font-size:11px;fill:#4a5568} .v-regressed{fill:#c53030;font-weight:bold} .v-improved{fill:#2f855a}
.status{font-size:12px;fill:#a0aec0} .box{opacity:.25} .whisker{stroke-width:1.5}
.ci{stroke-width:3} .median{stroke-width:2.5}
table{border-collapse:collapse;margin-top:6px;font-size:13px} td,th{padding:2px 10px;border-bottom:1px solid #edf2f7;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.regressed td{color:#c53030;font-weight:bold} tr.improved td{color:#2f855a}
h3{font-size:14px;margin:18px 0 4px} .explain-head,.why{color:#4a5568;margin:4px 0}
table.explain code{font-size:12px} table.explain td.num{white-space:nowrap} table.explain tr.grew td.num:first-child{color:#c53030}
table.explain tr.shrank td.num:first-child{color:#2b6cb0} .explain-notes{color:#718096;font-size:12px}
svg.icicle{max-width:100%;height:auto;display:block;margin-top:8px;border:1px solid #e2e8f0}
</style></head>
<body data-charts="{{len .Scenarios}}">
<h1>{{.Title}}</h1>
<p class="sub">{{.Subtitle}}</p>
<p class="legend"><span><i class="sw" style="background:#8a8f98"></i>baseline</span><span><i class="sw" style="background:#2b6cb0"></i>new</span><span><i class="sw" style="background:#c53030"></i>regressed</span><span><i class="sw" style="background:#2f855a"></i>improved</span>
<span>box: pooled p25–p75 · whiskers: p5–p95 · dots: per-boot medians · thick bar: median of boot medians with its 95% interval</span></p>
{{range $s := .Scenarios}}
<section class="scenario" id="s-{{$s}}">
<h2>{{$s}}</h2>
{{chart $ $s}}
<table><tr><th>kernel</th><th>baseline</th><th>new</th><th>change [95% CI] p</th><th>verdict</th><th>note</th></tr>
{{range $k := $.Kernels}}{{with cell $ $s $k}}<tr class="{{.Verdict}}"><td>{{$k}}</td><td class="num">{{if .Base}}{{duration .Base.Median}}{{end}}</td><td class="num">{{if .New}}{{duration .New.Median}}{{end}}</td><td class="num">{{.Change}}</td><td>{{.Verdict}}</td><td>{{.Note}}</td></tr>
{{end}}{{end}}</table>
{{range explains $ $s}}<h3>Where the kernel time went: {{.Title}}</h3>
{{if .Body}}{{.Body}}{{else}}<p class="why">{{.Why}}</p>{{end}}
{{end}}</section>
{{end}}
{{if .Notes}}<h2>Notes</h2><ul>{{range .Notes}}<li>{{.}}</li>{{end}}</ul>{{end}}
<script>
// Marks the page once laid out, so that a headless browser can check that
// every chart and icicle has a size and holds its marks.
document.addEventListener("DOMContentLoaded", function () {
  var count = function (sel) {
    var n = 0;
    document.querySelectorAll(sel).forEach(function (s) {
      var b = s.getBBox();
      if (b.width > 0 && b.height > 0 && s.querySelectorAll("line,rect,circle").length > 0) n++;
    });
    return String(n);
  };
  document.body.setAttribute("data-rendered-charts", count("svg.chart"));
  document.body.setAttribute("data-rendered-icicles", count("svg.icicle"));
});
</script>
</body></html>
`))

// WriteHTML writes one self-contained page: inline CSS and SVG, no
// network.
func WriteHTML(w io.Writer, p *Page) error {
	return pageTmpl.Execute(w, p)
}
