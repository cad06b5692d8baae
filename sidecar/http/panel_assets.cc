#include "sidecar/http/panel_assets.h"

namespace dealcoach::http {

const PanelAsset* FindPanelAsset(absl::string_view url_path) {
  // The page has three names: /ui/ (the issue's), /panel (short, for CRM admins) and
  // its file name; the demo list (scripts/demo.sh prints its URL) two.
  if (url_path == "/ui/" || url_path == "/panel") url_path = "/ui/index.html";
  if (url_path == "/ui/demo") url_path = "/ui/demo.html";
  for (const PanelAsset& a : PanelAssets()) {
    if (a.url_path == url_path) return &a;
  }
  return nullptr;
}

}  // namespace dealcoach::http
