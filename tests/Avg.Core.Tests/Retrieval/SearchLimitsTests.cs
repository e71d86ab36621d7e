using Avg.Retrieval;
using Avg.Tests.Support;

namespace Avg.Core.Tests.Retrieval;

[Trait(TestCategory.Name, TestCategory.Unit)]
public class SearchLimitsTests
{
    [Fact]
    public void Requests_at_the_limits_pass_and_one_past_them_name_the_field()
    {
        SearchLimits.Problems(new string('a', 1000), 100, 100, [100, 1, 100]).ShouldBeEmpty();
        SearchLimits.Problems("q", 1, 1, null).ShouldBeEmpty();

        SearchLimits.Problems(new string('a', 1001), 10, 20, null).Single().Field.ShouldBe("query");
        SearchLimits.Problems("  ", 10, 20, null).Single().Field.ShouldBe("query");
        SearchLimits.Problems("q", 101, 20, null).Single().Field.ShouldBe("k");
        SearchLimits.Problems("q", 0, 20, null).Single().Field.ShouldBe("k");
        SearchLimits.Problems("q", 10, 101, null).Single().Field.ShouldBe("beam");
        SearchLimits.Problems("q", 10, 20, []).Single().Field.ShouldBe("levelBeams");
        SearchLimits.Problems("q", 10, 20, new int[SearchLimits.MaxLevels + 1].Select(_ => 1).ToArray()).Single().Field.ShouldBe("levelBeams");
        SearchLimits.Problems("", 0, 0, [0]).Select(p => p.Field).ShouldBe(["query", "k", "beam", "levelBeams"]);
    }

    [Fact]
    public void Enforce_throws_a_request_exception_naming_the_value_and_the_field()
    {
        var refused = Should.Throw<InvalidRequestException>(() => SearchLimits.Enforce("q", 10, 1_000_000, null));
        refused.Message.ShouldContain("1000000");
        refused.Errors.Keys.ShouldBe(["beam"]);
        SearchLimits.Enforce("q", 10, 20, null);
    }
}
