using System.Globalization;
using System.Net.Http.Headers;
using System.Text.Json;

namespace Avg.Bench;

/// <summary>Feature-vector ingest batches as the cluster benchmarks send them: rows under their scrambled ids.</summary>
public static class FeatureIngest
{
    /// <summary>Attempts per batch before the run stops: a silo that refuses a batch three times is broken, not busy.</summary>
    private const int Attempts = 3;

    /// <summary>
    /// Posts rows [<paramref name="startRow"/>, +<paramref name="count"/>) as one <c>POST /v1/images</c> batch, row r
    /// under <see cref="ScrambledIds.IdOf"/>(r) with the vector at row <paramref name="vectorRow"/>(r) of
    /// <paramref name="vectors"/>; a refused batch is sent again (a batch is completed by resending it). Calls
    /// <paramref name="failed"/> for each refused attempt.
    /// </summary>
    public static async Task SendAsync(HttpClient http, float[] vectors, int width, int startRow, int count, Func<int, int> vectorRow, TextWriter log, Action failed)
    {
        ArgumentNullException.ThrowIfNull(http);
        ArgumentNullException.ThrowIfNull(vectorRow);
        ArgumentNullException.ThrowIfNull(log);
        ArgumentNullException.ThrowIfNull(failed);
        var body = new MemoryStream();
        using (var json = new Utf8JsonWriter(body))
        {
            json.WriteStartObject();
            json.WriteStartArray("images");
            for (var row = startRow; row < startRow + count; row++)
            {
                json.WriteStartObject();
                json.WriteString("id", ScrambledIds.IdOf(row).ToString(CultureInfo.InvariantCulture));
                json.WriteStartArray("features");
                foreach (var f in vectors.AsSpan(vectorRow(row) * width, width))
                {
                    json.WriteNumberValue(f);
                }

                json.WriteEndArray();
                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteEndObject();
        }

        for (var attempt = 1; ; attempt++)
        {
            using var content = new ByteArrayContent(body.GetBuffer(), 0, (int)body.Length);
            content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
            using var response = await http.PostAsync(new Uri("/v1/images", UriKind.Relative), content).ConfigureAwait(false);
            if (response.IsSuccessStatusCode)
            {
                return;
            }

            failed();
            var text = await response.Content.ReadAsStringAsync().ConfigureAwait(false);
            log.WriteLine(Invariant($"ingest of rows {startRow}..{startRow + count - 1} answered {(int)response.StatusCode} (attempt {attempt}): {text[..Math.Min(text.Length, 300)]}"));
            if (attempt == Attempts)
            {
                throw new AvgException(Invariant($"ingest of rows {startRow}..{startRow + count - 1} failed {Attempts} times; see the silo log"));
            }
        }
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
