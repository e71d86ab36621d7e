using System.Globalization;

namespace Avg.Retrieval;

/// <summary>
/// The search settings a bundle records for the searches that do not give their own (docs/design.md §1.7): the beam b
/// and the collision ranking's weight w. `avg train` picks them per encoder kind, as measured best on the val splits;
/// bundles written before they were recorded search with <see cref="Standard"/>.
/// </summary>
/// <param name="Beam">b where a search gives neither a beam nor level beams.</param>
/// <param name="CollisionWeight">w where the silo (<c>Avg__CollisionWeight</c>) or <c>avg eval</c> gives none; 0 turns the ranking off.</param>
public sealed record SearchDefaults(int Beam, double CollisionWeight)
{
    /// <summary>The built-in encoder's settings: beam 20 (the paper's 20–30) and w 30.</summary>
    public static SearchDefaults Standard { get; } = new(SearchLimits.DefaultBeam, SearchOptions.DefaultCollisionWeight);

    /// <summary>Throws a message naming <paramref name="where"/> when a value is outside what a search takes.</summary>
    public SearchDefaults Validate(string where)
    {
        if (Beam is < SearchLimits.MinBeam or > SearchLimits.MaxBeam)
        {
            throw new AvgException(string.Create(CultureInfo.InvariantCulture, $"{where}: the search beam must be between {SearchLimits.MinBeam} and {SearchLimits.MaxBeam}, got {Beam}"));
        }

        if (!SearchOptions.IsValidCollisionWeight(CollisionWeight))
        {
            throw new AvgException(string.Create(CultureInfo.InvariantCulture, $"{where}: the collision weight must be a number ≥ 0, got {CollisionWeight}"));
        }

        return this;
    }
}
