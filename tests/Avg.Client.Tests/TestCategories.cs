using Avg.Tests.Support;

namespace Avg.Client.Tests;

/// <summary>Every test class of this project carries exactly one category (Unit, Integration or Browser).</summary>
[Trait(TestCategory.Name, TestCategory.Unit)]
public sealed class TestCategories : TestCategoryCheck;
