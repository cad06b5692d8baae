// dealcoachPanel: the sidecar's coaching on the Opportunity record page.
//
// Data comes from DealcoachController (Apex), which calls the sidecar through the
// "Dealcoach" Named Credential; the answer is the sidecar's proto3 JSON, turned here
// into a small view model for the template (LWC templates take no expressions). Text is
// rendered by the template, which escapes it; links are kept only for http(s) URLs.
import { LightningElement, api, wire } from "lwc";
import getGuidance from "@salesforce/apex/DealcoachController.getGuidance";
import getChecklist from "@salesforce/apex/DealcoachController.getChecklist";
import { errorText, toChecklistModel, toViewModel } from "./viewModel";

export default class DealcoachPanel extends LightningElement {
    @api recordId;
    @api managerMode = false;
    view;
    checklist;
    error;

    @wire(getGuidance, { recordId: "$recordId" })
    wiredGuidance({ data, error }) {
        if (data) {
            this.view = toViewModel(JSON.parse(data).guidance || {});
            this.error = undefined;
        } else if (error) {
            this.error = errorText(error);
            this.view = undefined;
        }
    }

    @wire(getChecklist, { recordId: "$checklistId" })
    wiredChecklist({ data }) {
        if (data) this.checklist = toChecklistModel(JSON.parse(data).checklist || {});
    }

    // Only ask for the checklist in manager mode (a wire with an undefined parameter
    // does not call Apex).
    get checklistId() {
        return this.managerMode ? this.recordId : undefined;
    }

    get loading() {
        return !this.view && !this.error;
    }
}
