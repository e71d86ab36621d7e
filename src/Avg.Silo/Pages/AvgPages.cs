using System.Globalization;
using Avg.Cluster;
using Avg.Cluster.Hosting;
using Avg.Http;
using Avg.Silo.Http;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.StaticFiles;
using Microsoft.Extensions.FileProviders;
using Microsoft.Extensions.Options;
using Orleans.Dashboard;

namespace Avg.Silo.Pages;

/// <summary>
/// The pages of the silo host: the search page (<c>/</c>), the shard dashboard (<c>/shards.html</c>), the image files
/// they show (<c>/images/{fileName}</c> from <c>Avg__ImageRoot</c>), the neighbours endpoint the search page uses,
/// and the Orleans Dashboard at <c>/dashboard</c>. The pages are the static files of <c>wwwroot/</c>, embedded in the
/// assembly so every host of the silo (avg-silo, avg serve, tests) serves them whatever its working directory.
/// </summary>
public static class AvgPages
{
    public const string OrleansDashboardPath = "/dashboard";

    /// <summary>Default and largest number of neighbours returned by <c>GET /v1/images/{id}/neighbours</c>.</summary>
    public const int DefaultNeighbours = 12;

    public const int MaxNeighbours = 100;

    private static readonly FileExtensionContentTypeProvider ContentTypes = new();

    /// <summary>Adds the Orleans Dashboard's grains and services to the silo (every silo of the cluster needs them).</summary>
    public static ISiloBuilder AddAvgDashboard(this ISiloBuilder silo) => silo.AddDashboard();

    public static WebApplication MapAvgPages(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var pages = new EmbeddedFileProvider(typeof(AvgPages).Assembly, "Avg.Silo.wwwroot");
        app.UseDefaultFiles(new DefaultFilesOptions { FileProvider = pages });
        app.UseStaticFiles(new StaticFileOptions { FileProvider = pages });
        app.MapGet("/shards", () => Results.Redirect("/shards.html")).ExcludeFromDescription();
        app.MapGet("/images/{fileName}", ImageFile).ExcludeFromDescription();
        app.MapGroup("/v1")
            .MapGet("/images/{id}/neighbours", Neighbours)
            .Produces<NeighboursBody>()
            .ProducesProblem(StatusCodes.Status404NotFound);
        app.MapOrleansDashboard(routePrefix: OrleansDashboardPath);
        return app;
    }

    /// <summary>An image file of <c>Avg__ImageRoot</c> by plain file name: no folders, no way out of the root, image types only.</summary>
    private static IResult ImageFile(string fileName, IOptions<AvgSiloOptions> options)
    {
        var root = options.Value.ImageRoot;
        if (string.IsNullOrWhiteSpace(root))
        {
            return Results.Problem(statusCode: StatusCodes.Status404NotFound, title: "No image folder", detail: "This silo serves no image files: set Avg__ImageRoot to the folder of the indexed images.");
        }

        var rootPath = Path.GetFullPath(root);
        var path = Path.GetFullPath(Path.Combine(rootPath, fileName));
        var isPlainName = fileName.Length > 0 && Path.GetFileName(fileName) == fileName && fileName.IndexOfAny(['/', '\\']) < 0 && fileName is not ("." or "..");
        if (!isPlainName
            || !path.StartsWith(rootPath + Path.DirectorySeparatorChar, StringComparison.Ordinal)
            || !ContentTypes.TryGetContentType(fileName, out var contentType)
            || !contentType.StartsWith("image/", StringComparison.Ordinal)
            || !File.Exists(path))
        {
            return Results.Problem(statusCode: StatusCodes.Status404NotFound, title: "Image file not found", detail: $"No image file '{fileName}' in the image folder.");
        }

        return Results.File(path, contentType);
    }

    private static async Task<IResult> Neighbours(string id, HttpRequest request, IGrainFactory grains, BundleInfoSource bundles)
    {
        if (RequestValidation.CheckId(id) is { } problem)
        {
            return Results.ValidationProblem(new Dictionary<string, string[]> { ["id"] = [problem] });
        }

        // k is read here, not bound by the framework, so a k that is not a number is an error that names it.
        var given = request.Query["k"];
        var count = DefaultNeighbours;
        if (given.Count > 1 || (given.Count == 1 && !int.TryParse(given[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out count)) || count is < 1 or > MaxNeighbours)
        {
            return Results.ValidationProblem(new Dictionary<string, string[]> { ["k"] = [$"k must be one whole number between 1 and {MaxNeighbours}, got '{given}'."] });
        }

        var info = await bundles.GetAsync().ConfigureAwait(false);
        var (grain, image) = await ImageLookup.FindAsync(grains, info.IndexVersion, id).ConfigureAwait(false);
        if (grain is null || image is null)
        {
            return Results.Problem(statusCode: StatusCodes.Status404NotFound, title: "Image not found", detail: $"No image with id '{id}' is indexed.");
        }

        var nearest = await grain.Neighbours(id, count).ConfigureAwait(false);
        return Results.Ok(new NeighboursBody(
            image.Id,
            image.Vokens,
            image.Partition,
            image.Uri,
            nearest.Select(n => new NeighbourBody(n.Id, n.Vokens, n.Uri, SharedPrefix(image.Vokens, n.Vokens))).ToArray()));
    }

    private static int SharedPrefix(int[] a, int[] b)
    {
        var n = 0;
        while (n < a.Length && n < b.Length && a[n] == b[n])
        {
            n++;
        }

        return n;
    }
}
