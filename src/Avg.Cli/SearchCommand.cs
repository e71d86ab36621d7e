using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Avg.Client;

namespace Avg.Cli;

/// <summary>`avg search`: one text query against a running cluster, printed as a ranked table or as JSON.</summary>
internal static class SearchCommand
{
    private static readonly JsonSerializerOptions Indented = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    public static Command Create(CliContext context)
    {
        var connection = new ClusterConnection();
        var query = new Argument<string>("query") { Description = "The text to search for, e.g. \"a red circle\"." };
        var k = new Option<int>("--k") { Description = "How many images to return (1…100).", DefaultValueFactory = _ => 10 };
        var beam = new Option<int?>("--beam") { Description = "Beam size b (1…100; paper: 20–30). Default: the index's own (20, or 80 for bundles of the pretrained encoder's default recipe)." };
        var levelBeams = new Option<string?>("--level-beams") { Description = "Prefixes kept after each voken level instead of --beam, e.g. 20,40,20,10 (one width per level)." };
        var json = new Option<bool>("--json") { Description = "Print the server's answer as JSON (results, indexVersion, timing) instead of a table." };

        var command = new Command("search", "Search a running cluster (POST /v1/search) and print the ranked images: rank, image id, score, vokens, uri.") { query };
        connection.AddTo(command);
        foreach (var option in new Option[] { k, beam, levelBeams, json }) command.Options.Add(option);
        command.SetAction(async (parse, cancellationToken) =>
        {
            var client = connection.CreateClient(parse);
            var results = await client.SearchAsync(
                new SearchQuery(parse.GetValue(query)!, parse.GetValue(k), parse.GetValue(beam), connection.IndexVersion(parse),
                    EvalCommand.ParseList(parse.GetValue(levelBeams), "--level-beams") is { Count: > 0 } widths ? widths : null), cancellationToken).ConfigureAwait(false);
            await context.Output.WriteAsync(parse.GetValue(json)
                ? JsonSerializer.Serialize(results, Indented) + Environment.NewLine
                : FormatTable(results)).ConfigureAwait(false);
            return 0;
        });
        return command;
    }

    /// <summary>Aligned columns, best first, then one line of server timing.</summary>
    internal static string FormatTable(SearchResults results)
    {
        var c = CultureInfo.InvariantCulture;
        string[] header = ["rank", "image id", "score", "vokens", "uri"];
        var rows = results.Results.Select((r, i) => new[]
        {
            (i + 1).ToString(c), r.ImageId, r.Score.ToString("F4", c), string.Join(' ', r.Vokens), r.Uri ?? "-",
        }).ToList();
        var widths = header.Select((h, col) => rows.Select(row => row[col].Length).Append(h.Length).Max()).ToArray();
        string Line(string[] cells) => string.Join("  ", cells.Select((cell, col) => col is 0 or 2 ? cell.PadLeft(widths[col]) : cell.PadRight(widths[col]))).TrimEnd();

        var lines = new List<string>();
        if (rows.Count == 0)
        {
            lines.Add("no results (is anything indexed? see avg index)");
        }
        else
        {
            lines.Add(Line(header));
            lines.AddRange(rows.Select(Line));
        }
        if (results.Timing is { } t)
            lines.Add(string.Create(c, $"{rows.Count} results in {t.TotalMs:F1} ms (generator {t.GeneratorMs:F1} ms, {t.FanOutCalls} grain calls{(results.Beam is { } b ? $", beam {b}" : "")}), index version {results.IndexVersion ?? "unknown"}"));
        return string.Join(Environment.NewLine, lines) + Environment.NewLine;
    }
}
