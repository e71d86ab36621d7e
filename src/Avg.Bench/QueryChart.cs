using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;

namespace Avg.Bench;

/// <summary>
/// The query benchmark's report as a two-panel SVG: single-stream queries/s against images (log–log) and R@10 against
/// images (log x), one line per method. Hand-written SVG, so the chart needs nothing but the report.
/// </summary>
public static class QueryChart
{
    private const double PanelWidth = 400, PanelHeight = 280, Left = 70, Top = 60, Gap = 110, Bottom = 60;

    // HNSW is dashed: where it finds what exact search finds, the two-tower line shows through the gaps.
    private static readonly (string Method, string Colour, string Dash)[] Methods =
        [("avg", "#d62728", "none"), ("avg_ranked", "#9467bd", "none"), ("two_tower", "#1f77b4", "none"), ("hnsw", "#2ca02c", "7 4"), ("avg_http", "#ff7f0e", "2 3")];

    /// <summary>The chart of a report from <see cref="QueryBenchmark.Run"/> (or its JSON read back).</summary>
    public static string Svg(JsonObject report)
    {
        ArgumentNullException.ThrowIfNull(report);
        // Read back as parsed JSON: a report built in memory holds ints where a parsed one holds numbers.
        report = JsonNode.Parse(report.ToJsonString())!.AsObject();
        var rows = report["sizes"]!.AsArray().Select(row => row!.AsObject()).ToArray();
        if (rows.Length == 0) throw new ArgumentException("the report has no sizes to draw", nameof(report));
        var k = report["k"]?.GetValue<int>() ?? 10;
        var recallField = k >= 10 ? "r_at_10" : Invariant($"r{k}");
        var recallName = k >= 10 ? "R@10" : Invariant($"R@{k}");
        var images = rows.Select(row => row["images"]!.GetValue<double>()).ToArray();

        var series = Methods
            .Where(m => rows.All(row => row[m.Method] is JsonObject))
            .Select(m => (m.Method, m.Colour, m.Dash,
                Qps: rows.Select(row => row[m.Method]!["qps"]!.GetValue<double>()).ToArray(),
                Recall: rows.Select(row => row[m.Method]![recallField]?.GetValue<double>()).ToArray()))
            .ToArray();

        var width = Left + PanelWidth + Gap + PanelWidth + 30;
        var height = Top + PanelHeight + Bottom;
        var svg = new StringBuilder();
        svg.Append(Invariant($"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"12\">\n"));
        svg.Append(Invariant($"<rect width=\"{width}\" height=\"{height}\" fill=\"white\"/>\n"));
        var bundle = Path.GetFileName(report["bundle"]?.GetValue<string>()?.TrimEnd('/', '\\') ?? "");
        Text(svg, Left, 22, Invariant($"{report["title"]?.GetValue<string>() ?? "avg-bench query"} — {bundle}, beam {report["beam"]}, k {k}, {report["queries"]} queries, {report["threads"]} thread(s)"), "start", bold: true);

        var x = LogAxis.Covering(images);
        var qpsAxis = LogAxis.Covering(series.SelectMany(s => s.Qps));
        var qpsPanel = new Panel(Left, Top, x, qpsAxis.Map, "images (log)", "single-stream queries/s (log)", qpsAxis.MinorTicks);
        qpsPanel.Draw(svg, x.Ticks.Select(t => (t, Count(t))), qpsAxis.Ticks.Select(t => (qpsAxis.Map(t), Count(t))));
        var recallPanel = new Panel(Left + PanelWidth + Gap, Top, x, r => r, "images (log)", Invariant($"{recallName}: own image in the top {Math.Min(k, 10)}"));
        recallPanel.Draw(svg, x.Ticks.Select(t => (t, Count(t))), Enumerable.Range(0, 6).Select(i => (i / 5.0, Invariant($"{i / 5.0:0.0}"))));

        foreach (var (_, colour, dash, qps, recall) in series)
        {
            qpsPanel.Line(svg, images, qps.Select(v => (double?)v).ToArray(), colour, dash);
            recallPanel.Line(svg, images, recall, colour, dash);
        }

        // Legend along the top, right of the title's line.
        var legendX = Left;
        foreach (var (method, colour, dash, _, _) in series)
        {
            svg.Append(Invariant($"<line x1=\"{legendX}\" y1=\"40\" x2=\"{legendX + 24}\" y2=\"40\" stroke=\"{colour}\" stroke-width=\"2.5\" stroke-dasharray=\"{dash}\"/>"));
            svg.Append(Invariant($"<circle cx=\"{legendX + 12}\" cy=\"40\" r=\"3.5\" fill=\"{colour}\"/>\n"));
            Text(svg, legendX + 30, 44, method, "start");
            legendX += 110;
        }

        svg.Append("</svg>\n");
        return svg.ToString();
    }

    /// <summary>Whole decades covering the values, so every tick is a power of ten.</summary>
    private sealed record LogAxis(double Low, double High)
    {
        public static LogAxis Covering(IEnumerable<double> values)
        {
            var positive = values.Where(v => v > 0).DefaultIfEmpty(1).ToArray();
            var low = Math.Floor(Math.Log10(positive.Min()));
            var high = Math.Ceiling(Math.Log10(positive.Max()));
            return new LogAxis(low, Math.Max(high, low + 1));
        }

        public IEnumerable<double> Ticks => Enumerable.Range((int)Low, (int)(High - Low) + 1).Select(e => Math.Pow(10, e));

        /// <summary>2–9 times each decade: unlabelled grid lines, as on log paper.</summary>
        public IEnumerable<double> MinorTicks => Ticks.SkipLast(1).SelectMany(t => Enumerable.Range(2, 8).Select(m => m * t));

        /// <summary>The value's position on the axis, 0 at the low end and 1 at the high end.</summary>
        public double Map(double value) => (Math.Log10(value) - Low) / (High - Low);
    }

    /// <summary>One plot area: x on a log axis over images, y already mapped to 0–1 by the caller's axis.</summary>
    private sealed record Panel(double X0, double Y0, LogAxis X, Func<double, double> MapY, string XLabel, string YLabel, IEnumerable<double>? MinorY = null)
    {
        private double Px(double images) => X0 + (X.Map(images) * PanelWidth);

        private double Py(double unit) => Y0 + PanelHeight - (unit * PanelHeight);

        public void Draw(StringBuilder svg, IEnumerable<(double Images, string Label)> xTicks, IEnumerable<(double Unit, string Label)> yTicks)
        {
            foreach (var images in X.MinorTicks)
                svg.Append(Invariant($"<line x1=\"{Px(images):F1}\" y1=\"{Y0}\" x2=\"{Px(images):F1}\" y2=\"{Y0 + PanelHeight}\" stroke=\"#f0f0f0\"/>"));
            foreach (var value in MinorY ?? [])
                svg.Append(Invariant($"<line x1=\"{X0}\" y1=\"{Py(MapY(value)):F1}\" x2=\"{X0 + PanelWidth}\" y2=\"{Py(MapY(value)):F1}\" stroke=\"#f0f0f0\"/>"));
            svg.Append(Invariant($"<rect x=\"{X0}\" y=\"{Y0}\" width=\"{PanelWidth}\" height=\"{PanelHeight}\" fill=\"none\" stroke=\"#444\"/>\n"));
            foreach (var (images, label) in xTicks)
            {
                var px = Px(images);
                svg.Append(Invariant($"<line x1=\"{px:F1}\" y1=\"{Y0}\" x2=\"{px:F1}\" y2=\"{Y0 + PanelHeight}\" stroke=\"#ddd\"/>"));
                Text(svg, px, Y0 + PanelHeight + 16, label, "middle");
            }
            foreach (var (unit, label) in yTicks)
            {
                var py = Py(unit);
                svg.Append(Invariant($"<line x1=\"{X0}\" y1=\"{py:F1}\" x2=\"{X0 + PanelWidth}\" y2=\"{py:F1}\" stroke=\"#ddd\"/>"));
                Text(svg, X0 - 6, py + 4, label, "end");
            }
            Text(svg, X0 + (PanelWidth / 2), Y0 + PanelHeight + 38, XLabel, "middle");
            var midY = Y0 + (PanelHeight / 2);
            svg.Append(Invariant($"<text x=\"{X0 - 50}\" y=\"{midY}\" text-anchor=\"middle\" transform=\"rotate(-90 {X0 - 50} {midY})\">{WebUtility.HtmlEncode(YLabel)}</text>\n"));
        }

        /// <summary>A polyline with a dot per size; sizes without a value (null) are left out.</summary>
        public void Line(StringBuilder svg, double[] images, double?[] values, string colour, string dash)
        {
            var points = images.Zip(values).Where(p => p.Second is not null)
                .Select(p => (X: Px(p.First), Y: Py(MapY(p.Second!.Value)))).ToArray();
            svg.Append(Invariant($"<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"2.5\" stroke-dasharray=\"{dash}\" points=\"{string.Join(" ", points.Select(p => Invariant($"{p.X:F1},{p.Y:F1}")))}\"/>\n"));
            foreach (var (px, py) in points)
                svg.Append(Invariant($"<circle cx=\"{px:F1}\" cy=\"{py:F1}\" r=\"3.5\" fill=\"{colour}\"/>"));
            svg.Append('\n');
        }
    }

    private static void Text(StringBuilder svg, double x, double y, string text, string anchor, bool bold = false) =>
        svg.Append(Invariant($"<text x=\"{x:F1}\" y=\"{y:F1}\" text-anchor=\"{anchor}\"{(bold ? " font-weight=\"bold\"" : "")}>{WebUtility.HtmlEncode(text)}</text>\n"));

    /// <summary>1, 10, 100, 1K, 10K, 100K, 1M: tick labels for powers of ten.</summary>
    private static string Count(double value) => value switch
    {
        >= 1e6 => Invariant($"{value / 1e6:0.##}M"),
        >= 1e3 => Invariant($"{value / 1e3:0.##}K"),
        _ => Invariant($"{value:0.##}"),
    };

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
