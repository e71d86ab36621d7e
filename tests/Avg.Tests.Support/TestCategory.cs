using System.Reflection;
using Xunit;

namespace Avg.Tests.Support;

/// <summary>
/// The test categories. Every test class carries exactly one, as <c>[Trait(TestCategory.Name, TestCategory.Unit)]</c>,
/// so that <c>dotnet test Avg.Cluster.sln -c Release --filter Category=Unit</c> runs the fast tests alone (README,
/// "Tests and CI"); <see cref="TestCategoryCheck"/> fails naming any class that does not.
/// </summary>
public static class TestCategory
{
    /// <summary>The trait's name, as in <c>--filter Category=Unit</c>.</summary>
    public const string Name = "Category";

    /// <summary>In process and fast: no external processes, servers, listeners or browsers.</summary>
    public const string Unit = "Unit";

    /// <summary>
    /// Starts real processes or servers (redis-server, avg-silo processes, embedded silos and Orleans test clusters,
    /// Kestrel on loopback, the <c>avg</c> command against a server), or takes more than a few seconds.
    /// </summary>
    public const string Integration = "Integration";

    /// <summary>Drives a real browser (Debian's Chromium through Playwright).</summary>
    public const string Browser = "Browser";

    /// <summary>The three categories.</summary>
    public static IReadOnlyList<string> All { get; } = [Unit, Integration, Browser];

    /// <summary>
    /// The test classes of <paramref name="assembly"/> (concrete classes with a <c>[Fact]</c>, <c>[Theory]</c> or other
    /// <see cref="FactAttribute"/> method) that do not carry exactly one of the three categories on the class itself,
    /// and the test methods that carry a category of their own; one line each, saying what is wrong.
    /// </summary>
    public static IReadOnlyList<string> Offenders(Assembly assembly)
    {
        ArgumentNullException.ThrowIfNull(assembly);
        var offenders = new List<string>();
        foreach (var type in assembly.GetTypes().Where(IsTestClass).OrderBy(t => t.FullName, StringComparer.Ordinal))
        {
            var categories = Categories(type.GetCustomAttributesData());
            if (categories.Count != 1 || !All.Contains(categories[0]))
            {
                offenders.Add(categories.Count == 0
                    ? $"{type.FullName}: no {Name} trait"
                    : $"{type.FullName}: {Name} {string.Join(", ", categories)} (expected exactly one of {string.Join(", ", All)})");
            }

            foreach (var method in TestMethods(type).Where(m => Categories(m.GetCustomAttributesData()).Count > 0))
            {
                offenders.Add($"{type.FullName}.{method.Name}: a {Name} trait on the method (the class's is the test's)");
            }
        }

        return offenders;
    }

    private static bool IsTestClass(Type type) => type is { IsClass: true, IsAbstract: false } && TestMethods(type).Any();

    private static IEnumerable<MethodInfo> TestMethods(Type type) =>
        type.GetMethods(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static)
            .Where(m => m.IsDefined(typeof(FactAttribute), inherit: true));

    private static List<string> Categories(IEnumerable<CustomAttributeData> attributes) =>
        attributes.Where(a => a.AttributeType == typeof(TraitAttribute) && a.ConstructorArguments.Count == 2 && Equals(a.ConstructorArguments[0].Value, Name))
            .Select(a => a.ConstructorArguments[1].Value as string ?? "")
            .ToList();
}
