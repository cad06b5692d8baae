#include "sidecar/server/render.h"

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"

namespace dealcoach::server {
namespace {

v1::DealGuidance Sample() {
  v1::DealGuidance g;
  g.set_opportunity_id("006A");
  g.set_opportunity_name("Acme — platform rollout");
  g.mutable_playbook()->set_name("customer-journey");
  g.mutable_playbook()->set_version(7);
  g.set_crm_stage("Proposal");
  g.mutable_claimed_phase()->set_name("Decision");
  g.mutable_evidence_phase()->set_name("Awareness");
  g.mutable_stage_ahead_of_evidence()->set_message(
      "CRM says Decision, evidence supports Awareness");
  v1::GateResult* gate = g.add_gates();
  gate->mutable_phase()->set_name("Awareness");
  gate->set_status(v1::CRITERION_STATUS_UNMET);
  auto* c1 = gate->add_criteria();
  c1->set_text("Community pain confirmed");
  c1->set_status(v1::CRITERION_STATUS_MET);
  auto* c2 = gate->add_criteria();
  c2->set_text("Decision to change");
  c2->set_status(v1::CRITERION_STATUS_UNMET);
  auto* c3 = gate->add_criteria();
  c3->set_text("Economic buyer engaged");
  c3->set_status(v1::CRITERION_STATUS_UNKNOWN);
  c3->add_missing_fields("opp.fields.eb_engaged");
  auto* b = g.add_next_best_behaviors();
  b->set_prompt("Meet a second stakeholder to confirm the pain beyond your first contact");
  b->set_why("only one contact has confirmed the pain so far");
  auto* link = b->add_content();
  link->set_title("Pain discovery guide");
  link->set_url("https://enablement.example.com/pain");
  g.set_more_behaviors(2);
  auto* r = g.add_risks();
  r->set_text("No customer meeting in 21 days");
  r->set_severity(v1::RISK_SEVERITY_HIGH);
  g.add_coaching_questions()->set_text("Who besides your contact says this costs them?");
  g.mutable_freshness()->set_source("file");
  g.mutable_freshness()->mutable_age()->set_seconds(125);
  return g;
}

TEST(RenderTest, DealCardHasEveryPartAndFitsEightyColumns) {
  v1::Opportunity opp;
  opp.set_amount(120000);
  opp.set_currency_code("EUR");
  opp.mutable_account()->set_name("Acme");
  std::string card = RenderGuidance(Sample(), &opp);
  for (const char* want :
       {"Acme — platform rollout", "EUR 120,000", "CRM stage Proposal → claims Decision",
        "evidence says Awareness", "⚠ Stage ahead of evidence: CRM says Decision",
        "✓ Community pain confirmed", "✗ Decision to change", "? Economic buyer engaged",
        "not recorded in the CRM: opp.fields.eb_engaged", "1. Meet a second stakeholder",
        "why: only one contact", "Pain discovery guide https://enablement.example.com/pain",
        "(+2 more)", "[high] No customer meeting in 21 days", "» Who besides your contact",
        "playbook customer-journey@7", "data: file", "age 2m"}) {
    EXPECT_TRUE(absl::StrContains(card, want)) << want << "\n" << card;
  }
  EXPECT_FALSE(absl::StrContains(card, "\033[")) << "no color unless asked";
  for (absl::string_view line : absl::StrSplit(card, '\n')) {
    int width = 0;
    for (unsigned char c : line) width += (c & 0xC0) != 0x80;
    EXPECT_LE(width, 80) << line;
  }
}

TEST(RenderTest, ContentLinkIsShownOnceAcrossBehaviors) {
  v1::DealGuidance g = Sample();
  auto* second = g.add_next_best_behaviors();
  second->set_prompt("Write down the pain in the customer's own words");
  *second->add_content() = g.next_best_behaviors(0).content(0);  // same guide again
  auto* other = second->add_content();
  other->set_title("Cost of inaction calculator");
  other->set_url("https://enablement.example.com/coi");
  std::string card = RenderGuidance(g, nullptr);
  size_t first = card.find("https://enablement.example.com/pain");
  ASSERT_NE(first, std::string::npos) << card;
  EXPECT_EQ(card.find("https://enablement.example.com/pain", first + 1), std::string::npos) << card;
  EXPECT_TRUE(absl::StrContains(card, "https://enablement.example.com/coi")) << card;
}

TEST(RenderTest, PartialDataIsSaidInTheFooterOnlyWhenPartial) {
  v1::DealGuidance g = Sample();
  EXPECT_FALSE(absl::StrContains(RenderGuidance(g, nullptr), "partial data"));
  g.mutable_freshness()->set_partial(true);
  g.mutable_freshness()->set_partial_reason(
      "the last salesforce sync (started 2026-12-02T19:05:02Z) stopped after 600 deals: 403 "
      "REQUEST_LIMIT_EXCEEDED; changes to this deal since 2026-12-02T19:00:00Z may be missing");
  std::string card = RenderGuidance(g, nullptr);
  EXPECT_TRUE(absl::StrContains(card, "⚠ partial data: the last salesforce sync")) << card;
  EXPECT_TRUE(absl::StrContains(card, "may be missing")) << card;
}

TEST(RenderTest, ColorOnlyWhenAsked) {
  RenderOptions o;
  o.color = true;
  EXPECT_TRUE(absl::StrContains(RenderGuidance(Sample(), nullptr, o), "\033[32m✓\033[0m"));
}

TEST(RenderTest, ChecklistShowsStatusAndQuestions) {
  v1::ReviewChecklist c;
  c.set_checklist("opportunity_review");
  c.set_opportunity_name("Acme");
  c.mutable_evidence_phase()->set_name("Awareness");
  c.set_open_items(1);
  auto* i1 = c.add_items();
  i1->set_text("Mutual action plan agreed");
  i1->set_status(v1::CRITERION_STATUS_UNMET);
  i1->set_coaching_question("What would the customer say the next step is?");
  auto* i2 = c.add_items();
  i2->set_text("Champion identified");
  i2->set_status(v1::CRITERION_STATUS_MET);
  i2->set_coaching_question("not shown");
  std::string text = RenderChecklist(c);
  EXPECT_TRUE(absl::StrContains(text, "Review checklist (opportunity_review): Acme")) << text;
  EXPECT_TRUE(absl::StrContains(text, "1 of 2 items open")) << text;
  EXPECT_TRUE(absl::StrContains(text, "✗ Mutual action plan agreed")) << text;
  EXPECT_TRUE(absl::StrContains(text, "ask: What would the customer say")) << text;
  EXPECT_FALSE(absl::StrContains(text, "not shown")) << text;
}

TEST(RenderTest, FormatAmount) {
  v1::Opportunity o;
  EXPECT_EQ(FormatAmount(o), "");
  o.set_amount(1234567.5);
  o.set_currency_code("USD");
  EXPECT_EQ(FormatAmount(o), "USD 1,234,567.50");
  o.set_amount(999);
  EXPECT_EQ(FormatAmount(o), "USD 999");
}

}  // namespace
}  // namespace dealcoach::server
