from django import forms

from billing.pricing import AmountError, credits_parse


class CreditsChangeForm(forms.Form):
    """An operator's grant (positive) or adjustment (negative), in credits."""

    amount = forms.CharField(
        label="Amount in credits", help_text="e.g. 5 or 0.25 to grant, -1 to take back", max_length=30
    )
    reason = forms.CharField(label="Reason", max_length=300, widget=forms.Textarea(attrs={"rows": 2}))

    def clean_amount(self) -> int:
        try:
            micro = credits_parse(self.cleaned_data["amount"])
        except AmountError as error:
            raise forms.ValidationError(str(error)) from None
        if micro == 0:
            raise forms.ValidationError("The amount must not be zero.")
        return micro

    def clean_reason(self) -> str:
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError("Say why.")
        return reason
