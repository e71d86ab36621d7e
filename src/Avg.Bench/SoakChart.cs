using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;

namespace Avg.Bench;

/// <summary>
/// The soak's samples over time as a three-panel SVG sharing one time axis: the silo's memory (resident, native,
/// managed heap and committed, MB), TorchSharp's live tensors, and each interval's search p50/p99 (ms). The warm-up is
/// shaded. Hand-written SVG, like <see cref="QueryChart"/>, so it needs nothing but the report.
/// </summary>
public static class SoakChart
{
    private const double Width = 820, PanelHeight = 170, Left = 80, Right = 170, Top = 50, Gap = 45, Bottom = 45;

    private static readonly (string Field, string Name, string Colour)[][] Panels =
    [
        [("rss_mb", "resident", "#d62728"), ("native_mb", "native", "#9467bd"), ("managed_committed_mb", "managed committed", "#1f77b4"), ("managed_heap_mb", "managed heap", "#2ca02c")],
        [("live_tensors", "live tensors", "#8c564b")],
        [("p99_ms", "search p99", "#ff7f0e"), ("p50_ms", "search p50", "#7f7f7f")],
    ];

    private static readonly string[] Units = ["MB", "tensors", "ms"];

    public static string Svg(JsonObject report)
    {
        ArgumentNullException.ThrowIfNull(report);
        report = JsonNode.Parse(report.ToJsonString())!.AsObject();
        var samples = report["samples"]!.AsArray().Select(s => s!.AsObject()).ToArray();
        if (samples.Length == 0) throw new ArgumentException("the report has no samples to draw", nameof(report));
        var minutes = samples.Select(s => s["t_s"]!.GetValue<double>() / 60).ToArray();
        var span = Math.Max(report["minutes"]?.GetValue<double>() ?? minutes[^1], minutes[^1]);
        var warmup = report["warmup_minutes"]?.GetValue<double>() ?? 0;
        double X(double minute) => Left + (minute / span * (Width - Left - Right));

        var height = Top + (Panels.Length * (PanelHeight + Gap)) - Gap + Bottom;
        var svg = new StringBuilder();
        svg.Append(Invariant($"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{Width}\" height=\"{height}\" viewBox=\"0 0 {Width} {height}\" font-family=\"sans-serif\" font-size=\"12\">\n"));
        svg.Append(Invariant($"<rect width=\"{Width}\" height=\"{height}\" fill=\"white\"/>\n"));
        var rates = report["achieved_rates"];
        Text(svg, Left, 22, Invariant($"avg-bench soak — {report["preload_images"]} images held, {rates?["ingest_images_per_second"]} indexed/s, {rates?["deletes_per_second"]} deleted/s, {rates?["searches_per_second"]} searches/s"), "start", bold: true);

        for (var p = 0; p < Panels.Length; p++)
        {
            var top = Top + (p * (PanelHeight + Gap));
            var bottom = top + PanelHeight;
            var lines = Panels[p].Select(l => (l.Name, l.Colour, Values: samples.Select(s => s[l.Field] is JsonValue v ? v.GetValue<double>() : double.NaN).ToArray())).ToArray();
            var max = lines.SelectMany(l => l.Values).Where(v => !double.IsNaN(v)).DefaultIfEmpty(1).Max();
            var axisMax = NiceCeiling(max * 1.1);
            double Y(double value) => bottom - (value / axisMax * PanelHeight);

            svg.Append(Invariant($"<rect x=\"{X(0):F1}\" y=\"{top}\" width=\"{X(warmup) - X(0):F1}\" height=\"{PanelHeight}\" fill=\"#f0f0f0\"/>\n"));
            svg.Append(Invariant($"<rect x=\"{Left}\" y=\"{top}\" width=\"{Width - Left - Right}\" height=\"{PanelHeight}\" fill=\"none\" stroke=\"#999\"/>\n"));
            for (var i = 0; i <= 4; i++)
            {
                var value = axisMax * i / 4;
                svg.Append(Invariant($"<line x1=\"{Left - 4}\" x2=\"{Width - Right}\" y1=\"{Y(value):F1}\" y2=\"{Y(value):F1}\" stroke=\"#e5e5e5\"/>\n"));
                Text(svg, Left - 8, Y(value) + 4, Invariant($"{value:0.#}"), "end");
            }

            Text(svg, Left, top - 8, Units[p], "start", bold: true);
            if (p == 0 && warmup > 0)
            {
                Text(svg, (X(0) + X(warmup)) / 2, top + 14, "warm-up", "middle");
            }

            for (var l = 0; l < lines.Length; l++)
            {
                var (name, colour, values) = lines[l];
                var points = string.Join(' ', minutes.Zip(values).Where(m => !double.IsNaN(m.Second)).Select(m => Invariant($"{X(m.First):F1},{Y(m.Second):F1}")));
                svg.Append(Invariant($"<polyline points=\"{points}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.8\"/>\n"));
                var legendY = top + 14 + (l * 18);
                svg.Append(Invariant($"<line x1=\"{Width - Right + 12}\" x2=\"{Width - Right + 32}\" y1=\"{legendY - 4}\" y2=\"{legendY - 4}\" stroke=\"{colour}\" stroke-width=\"2\"/>\n"));
                Text(svg, Width - Right + 38, legendY, name, "start");
            }
        }

        var axisY = Top + (Panels.Length * (PanelHeight + Gap)) - Gap;
        var step = span <= 2 ? 0.5 : span <= 15 ? 1 : span <= 60 ? 5 : 30;
        for (var m = 0.0; m <= span + 1e-9; m += step)
        {
            Text(svg, X(m), axisY + 16, Invariant($"{m:0.#}"), "middle");
        }

        Text(svg, (Left + Width - Right) / 2, axisY + 34, "minutes", "middle");
        svg.Append("</svg>\n");
        return svg.ToString();
    }

    private static double NiceCeiling(double value)
    {
        if (value <= 0) return 1;
        var magnitude = Math.Pow(10, Math.Floor(Math.Log10(value)));
        return new[] { 1, 2, 2.5, 5, 10 }.Select(f => f * magnitude).First(c => c >= value);
    }

    private static void Text(StringBuilder svg, double x, double y, string text, string anchor, bool bold = false) =>
        svg.Append(Invariant($"<text x=\"{x:F1}\" y=\"{y:F1}\" text-anchor=\"{anchor}\"{(bold ? " font-weight=\"bold\"" : "")}>{WebUtility.HtmlEncode(text)}</text>\n"));

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
